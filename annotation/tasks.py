"""Ingest tasks: thin, idempotent, keyed by id (see services/ingest.py)."""

import logging

from celery import shared_task
from django.db import OperationalError

from .services import ingest

log = logging.getLogger(__name__)

INTERNAL_ERROR = "The submission could not be processed because of an internal error; the team has been told."


@shared_task(bind=True, acks_late=True, max_retries=3, soft_time_limit=6 * 3600, time_limit=6 * 3600 + 60)
def ingest_submission(self, submission_id: int) -> None:
    """Plan the chunks, then fan them out across the workers."""
    try:
        chunk_ids = ingest.ingest_start(submission_id=submission_id)
    except OperationalError as exc:
        raise self.retry(exc=exc, countdown=2**self.request.retries)
    except Exception:
        log.exception("planning submission %s failed", submission_id)
        ingest.submission_fail(submission_id=submission_id, reason=INTERNAL_ERROR)
        return
    for chunk_id in chunk_ids:
        ingest_chunk.delay(chunk_id, submission_id)


@shared_task(bind=True, acks_late=True, max_retries=3, soft_time_limit=3600, time_limit=3660)
def ingest_chunk(self, chunk_id: int, submission_id: int) -> None:
    try:
        last = ingest.ingest_chunk_process(chunk_id=chunk_id)
    except Exception as exc:
        if self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=2**self.request.retries)
        log.exception("chunk %s of submission %s failed", chunk_id, submission_id)
        ingest.submission_fail(submission_id=submission_id, reason=INTERNAL_ERROR)
        return
    if last:
        ingest_finalize.delay(submission_id)


@shared_task(bind=True, acks_late=True, max_retries=3, soft_time_limit=3600, time_limit=3660)
def ingest_finalize(self, submission_id: int) -> None:
    try:
        ingest.ingest_finish(submission_id=submission_id)
    except Exception as exc:
        if self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=2**self.request.retries)
        log.exception("finalising submission %s failed", submission_id)
        ingest.submission_fail(submission_id=submission_id, reason=INTERNAL_ERROR)
