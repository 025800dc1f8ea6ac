"""Ingest tasks: thin, idempotent, keyed by id (see services/ingest.py).

Each task may run twice (``acks_late`` redelivery, or the sweeper sending
again what went quiet) and is retried with back-off on any error; the last
failed try ends the submission with a message that quotes nothing of the file.
"""

import logging

from celery import shared_task

from annotation.ingest.errors import describe_failure
from annotation.ingest.messages import Message, gettext_noop

from .services import ingest
from .services.ingest_sweep import ingest_sweep as sweep
from .services.originals import originals_expire
from .services.uploads import uploads_expire

log = logging.getLogger(__name__)

INTERNAL_ERROR = Message(
    gettext_noop("The submission could not be processed because of an internal error; the team has been told.")
)
TASK_OPTIONS = {"bind": True, "acks_late": True, "max_retries": 3}


class IngestStepFailed(Exception):
    """Retried in place of a step's exception: Celery logs it, and the original's text may quote the file."""


def _retry_or_fail(task, exc: Exception, submission_id: int, step: str) -> None:
    if task.request.retries < task.max_retries:
        stand_in = IngestStepFailed(f"{step} of submission {submission_id}: {type(exc).__name__}")
        raise task.retry(exc=stand_in, countdown=2**task.request.retries)
    log.error("%s of submission %s failed: %s", step, submission_id, describe_failure(exc))
    ingest.submission_fail(submission_id=submission_id, reason=INTERNAL_ERROR)


@shared_task(**TASK_OPTIONS, soft_time_limit=6 * 3600, time_limit=6 * 3600 + 60)
def ingest_submission(self, submission_id: int) -> None:
    """Plan the chunks, then fan them out across the workers."""
    try:
        chunk_ids = ingest.ingest_start(submission_id=submission_id)
    except Exception as exc:
        return _retry_or_fail(self, exc, submission_id, "planning")
    for chunk_id in chunk_ids:
        ingest_chunk.delay(chunk_id, submission_id)


@shared_task(**TASK_OPTIONS, soft_time_limit=3600, time_limit=3660)
def ingest_chunk(self, chunk_id: int, submission_id: int) -> None:
    try:
        last = ingest.ingest_chunk_process(chunk_id=chunk_id)
    except Exception as exc:
        return _retry_or_fail(self, exc, submission_id, f"chunk {chunk_id}")
    if last:
        ingest_finalize.delay(submission_id)


@shared_task(**TASK_OPTIONS, soft_time_limit=3600, time_limit=3660)
def ingest_finalize(self, submission_id: int) -> None:
    try:
        ingest.ingest_finish(submission_id=submission_id)
    except Exception as exc:
        _retry_or_fail(self, exc, submission_id, "finishing")


@shared_task(name="annotation.tasks.ingest_sweep", soft_time_limit=100, time_limit=120)
def ingest_sweep() -> int:
    """Send again what went quiet in ingest (beat, every minute; services/ingest_sweep.py says what)."""
    orders = sweep()
    for submission_id in orders.plan:
        ingest_submission.delay(submission_id)
    for chunk_id, submission_id in orders.chunks:
        ingest_chunk.delay(chunk_id, submission_id)
    for submission_id in orders.finish:
        ingest_finalize.delay(submission_id)
    return orders.count


@shared_task(name="annotation.tasks.uploads_expire", time_limit=600)
def expire_uploads() -> int:
    """Drop resumable uploads nobody touched for UPLOAD_EXPIRE_HOURS (beat, hourly)."""
    return uploads_expire()


@shared_task(name="annotation.tasks.originals_expire", time_limit=600)
def expire_originals() -> int:
    """Delete uploaded files past their use: failed ones after ORIGINAL_RETENTION_DAYS (beat, hourly)."""
    return originals_expire()
