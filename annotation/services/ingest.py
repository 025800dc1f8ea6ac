"""Ingest a submission: plan its chunks, process each chunk, finalise.

Every step is idempotent, so a task may run twice or be retried after a
crash: chunks are keyed by ``(submission, index)``, records by
``(submission, line)``, and a finished step returns early.
"""

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from annotation.ingest.containers import Limits
from annotation.ingest.errors import SubmissionRefused
from annotation.ingest.messages import Message, stored_message
from annotation.ingest.messages import gettext_noop as _
from annotation.ingest.plan import chunk_bytes_for, plan_upload
from annotation.ingest.stats import sum_stats
from annotation.models import IngestChunk, Submission

from .ingest_chunk import process_chunk_records
from .near_duplicates import near_duplicates_mark
from .originals import original_delete, spools_delete
from .record_text import chunk_files_tidy, record_file_delete, submission_files_tidy

log = logging.getLogger(__name__)


def _limits() -> Limits:
    config = settings.INGEST
    return Limits(
        max_expanded_bytes=config["MAX_EXPANDED_BYTES"],
        max_ratio=config["MAX_COMPRESSION_RATIO"],
        max_members=config["MAX_ARCHIVE_MEMBERS"],
    )


def ingest_start(*, submission_id: int) -> list[int]:
    """Plan a received submission's chunks; return the ids of chunks to process.

    A submission already planned returns its pending chunks (a retried task
    hands them out again); a finished one returns none, and so does one that
    another worker started planning less than PLAN_STALL_SECONDS ago (a
    duplicate message). A planning error puts the submission back to
    "received" for the task's retry.
    """
    now = timezone.now()
    with transaction.atomic():
        submission = Submission.objects.select_for_update().get(pk=submission_id)
        if submission.is_finished:
            return []
        if submission.chunks_total:
            return list(submission.chunks.filter(status=IngestChunk.Status.PENDING).values_list("id", flat=True))
        planning_since = now - timedelta(seconds=settings.INGEST["PLAN_STALL_SECONDS"])
        if submission.status == Submission.Status.PROCESSING and (submission.started_at or now) > planning_since:
            return []
        # started_at is the planning's lease: a planner that died is taken over once it is old.
        submission.status, submission.started_at = Submission.Status.PROCESSING, now
        submission.save(update_fields=["status", "started_at"])

    try:
        plans, spool_name = _plan(submission)
    except SubmissionRefused as exc:
        submission_fail(submission_id=submission_id, reason=exc.message)
        return []
    except Exception:
        unplanned = Submission.objects.filter(pk=submission_id, status=Submission.Status.PROCESSING, chunks_total=0)
        unplanned.update(status=Submission.Status.RECEIVED)
        raise

    try:
        paths = _chunks_create(submission_id, plans, spool_name)
    except Exception:
        if spool_name:  # the retry plans again; no chunk would ever name this spool, which holds the file's text
            default_storage.delete(spool_name)
        raise
    if spool_name and spool_name not in paths:
        default_storage.delete(spool_name)  # a concurrent plan of the same upload won
    return list(IngestChunk.objects.filter(submission_id=submission_id).values_list("id", flat=True))


@transaction.atomic
def _chunks_create(submission_id: int, plans, spool_name: str | None) -> set[str]:
    """Store the planned chunks (a concurrent plan's stay); return the paths the chunks read."""
    submission = Submission.objects.select_for_update().get(pk=submission_id)
    path = spool_name or submission.file.name
    IngestChunk.objects.bulk_create(
        [
            IngestChunk(submission=submission, index=i, path=path, spooled=spool_name is not None,
                        start=p.start, end=p.end, first_line=p.first_line)
            for i, p in enumerate(plans)
        ],
        ignore_conflicts=True,
    )
    submission.chunks_total = len(plans)
    submission.save(update_fields=["chunks_total"])
    return set(submission.chunks.values_list("path", flat=True))


def _plan(submission):
    config = settings.INGEST
    base = submission.file.name.rsplit("/", 1)[0]

    def save_spool(stream):
        return default_storage.save(f"{base}/spool-{uuid.uuid4().hex}.jsonl", File(stream))

    return plan_upload(
        open_upload=lambda: default_storage.open(submission.file.name, "rb"),
        filename=submission.original_name,
        size=submission.size_bytes,
        limits=_limits(),
        chunk_bytes=chunk_bytes_for(submission.size_bytes, smallest=config["MIN_CHUNK_BYTES"], largest=config["CHUNK_BYTES"]),
        max_record_bytes=config["MAX_RECORD_BYTES"],
        save_spool=save_spool,
    )


def ingest_chunk_process(*, chunk_id: int) -> bool:
    """Process one chunk under its lease; returns True when it was the submission's last one.

    See ``chunk_claim`` for the chunks left alone. A failure releases the
    lease, so the task's retry may claim the chunk again at once.
    """
    chunk = chunk_claim(chunk_id=chunk_id)
    if chunk is None:
        return False
    try:
        stats, records_file = process_chunk_records(chunk)
    except Exception:
        IngestChunk.objects.filter(pk=chunk_id).update(claimed_at=None)
        raise
    with transaction.atomic():
        chunk = IngestChunk.objects.select_for_update().get(pk=chunk_id)
        if chunk.status == IngestChunk.Status.DONE:
            record_file_delete(records_file)  # another worker's attempt is the chunk's
            return False
        chunk.stats, chunk.status, chunk.records_file = stats.as_dict(), IngestChunk.Status.DONE, records_file
        chunk.save(update_fields=["stats", "status", "records_file"])
        transaction.on_commit(lambda: chunk_files_tidy(chunk=chunk))
        submission = Submission.objects.select_for_update().get(pk=chunk.submission_id)
        submission.chunks_done = submission.chunks.filter(status=IngestChunk.Status.DONE).count()
        submission.save(update_fields=["chunks_done"])
        return submission.chunks_done >= submission.chunks_total


def chunk_claim(*, chunk_id: int) -> IngestChunk | None:
    """Take a chunk's lease (one more attempt); None when no worker should process it now.

    None for a chunk done, of a finished submission, held by a worker that
    beat within CHUNK_STALL_SECONDS (a duplicate message), or claimed
    CHUNK_MAX_ATTEMPTS times already: then its submission fails, naming the lines.
    """
    config, now = settings.INGEST, timezone.now()
    with transaction.atomic():
        chunks = IngestChunk.objects.select_for_update(of=("self",)).select_related("submission__language")
        chunk = chunks.get(pk=chunk_id)
        if chunk.status == IngestChunk.Status.DONE or chunk.submission.is_finished:
            return None
        if chunk.claimed_at and chunk.heartbeat_at > now - timedelta(seconds=config["CHUNK_STALL_SECONDS"]):
            return None
        exhausted = chunk.attempts >= config["CHUNK_MAX_ATTEMPTS"]
        if not exhausted:
            chunk.attempts, chunk.claimed_at, chunk.heartbeat_at = chunk.attempts + 1, now, now
            chunk.save(update_fields=["attempts", "claimed_at", "heartbeat_at"])
    if exhausted:
        chunk_give_up(chunk=chunk)
        return None
    return chunk


def chunk_give_up(*, chunk: IngestChunk) -> None:
    """Fail the chunk's submission: its workers stopped (killed, out of memory) on every attempt."""
    following = chunk.submission.chunks.filter(index=chunk.index + 1).values_list("first_line", flat=True).first()
    params = {"first": f"{chunk.first_line:,}", "attempts": chunk.attempts}
    if following is None:
        reason = Message(_("The lines from %(first)s to the end could not be processed: "
                           "the worker stopped on them %(attempts)s times."), params)  # fmt: skip
    else:
        reason = Message(_("Lines %(first)s to %(last)s could not be processed: "
                           "the worker stopped on them %(attempts)s times."), {**params, "last": f"{following - 1:,}"})  # fmt: skip
    log.warning("chunk %s of submission %s gave up after %s attempts", chunk.pk, chunk.submission_id, chunk.attempts)
    submission_fail(submission_id=chunk.submission_id, reason=reason)


def ingest_finish(*, submission_id: int) -> None:
    """Mark near-duplicates, add up the chunks' figures, and end the submission."""
    submission = Submission.objects.get(pk=submission_id)
    if submission.is_finished or submission.chunks_done < submission.chunks_total:
        return
    # Before the transaction: the band index has its own lock, and the marks
    # are written in batches; done again by a retry, they come out the same.
    near_duplicates = near_duplicates_mark(submission_id=submission_id)
    with transaction.atomic():
        submission = Submission.objects.select_for_update().get(pk=submission_id)
        if submission.is_finished or submission.chunks_done < submission.chunks_total:
            return
        chunks = list(submission.chunks.order_by("index").values_list("stats", flat=True))
        totals = sum_stats(chunks, settings.INGEST["MAX_ERRORS_KEPT"])
        quality, duplicates_of = totals.pop("quality"), totals.pop("duplicates_of")
        for field, value in totals.items():
            setattr(submission, field, value)
        submission.quality = quality
        submission.near_duplicates = near_duplicates
        _set_failure(submission, _failure_reason(submission, duplicates_of))
        submission.status = Submission.Status.FAILED if submission.failure else Submission.Status.READY
        submission.finished_at = timezone.now()
        submission.save()
    if submission.status == Submission.Status.READY:
        original_delete(submission_id=submission_id, reason=Submission.OriginalDeleted.INGESTED)
    else:  # kept a while, for the partner to see what went wrong (originals_expire)
        spools_delete(submission)


def _failure_reason(submission, duplicates_of: dict) -> Message | None:
    if submission.records_read == 0:
        return Message(_("The file holds no records."))
    if submission.records_accepted == 0 and submission.exact_duplicates == submission.records_read:
        return _repeated(submission.records_read, duplicates_of)
    if submission.records_accepted == 0 and submission.exact_duplicates == 0:
        count = f"{submission.records_read:,}"
        first = submission.errors[0] if submission.errors else None
        if not first:
            return Message(_("No record could be accepted: all %(count)s had errors."), {"count": count})
        return Message(
            _("No record could be accepted: all %(count)s had errors. The first: line %(line)s: %(problem)s."),
            {"count": count, "line": first["line"], "problem": stored_message(first, first["message"])},
        )
    return None


def _repeated(count: int, duplicates_of: dict) -> Message:
    """An upload that only repeats what the portal holds: name the submission holding most of it.

    Only its number: the page links it for those who may see it, and no one
    learns another partner's name from it.
    """
    params = {"count": f"{count:,}"}
    if not duplicates_of:  # each was stored by an upload running alongside, which is not counted
        return Message(_("All %(count)s records were already in the portal."), params)
    most = max(duplicates_of.items(), key=lambda item: (item[1], -int(item[0])))[0]
    return Message(_("All %(count)s records were already in the portal (submission #%(submission)s)."),
                   {**params, "submission": int(most)})


def _set_failure(submission, reason: Message | None) -> None:
    reason = reason and reason.redacted()  # it may name an archive member or quote a library's error
    submission.failure = str(reason) if reason else ""
    submission.failure_message = reason.as_dict() if reason else {}


def submission_fail(*, submission_id: int, reason: Message) -> None:
    """End a submission as failed, saying why."""
    with transaction.atomic():
        submission = Submission.objects.select_for_update().get(pk=submission_id)
        if submission.is_finished:
            return
        submission.status = Submission.Status.FAILED
        _set_failure(submission, reason)
        submission.finished_at = timezone.now()
        submission.save(update_fields=["status", "failure", "failure_message", "finished_at"])
    spools_delete(submission)
    submission_files_tidy(submission_id=submission_id)
