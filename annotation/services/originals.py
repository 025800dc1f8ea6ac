"""The uploaded file's lifecycle: it holds the personal data ingest redacts, so it goes.

Ingest keeps the redacted records; the original (and any spool parsed from
it) is deleted once the submission is ready, at once when the whole
submission is withdrawn, and ``ORIGINAL_RETENTION_DAYS`` after a failure,
so that the partner can still ask what went wrong. The submission records
when and why (docs/formats.md tells partners).
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from annotation.models import Submission


def original_delete(*, submission_id: int, reason: str) -> bool:
    """Delete the submission's uploaded file and spools, and record when and ``reason``.

    Returns False when there was nothing to do: deleted already, or a
    submission without a file (written on the portal). The files go before
    the row says so, so a crash in between leaves work for the next call.
    """
    with transaction.atomic():
        submission = Submission.objects.select_for_update().get(pk=submission_id)
        if submission.original_deleted_at or not submission.file.name:
            return False
        spools_delete(submission)
        default_storage.delete(submission.file.name)
        submission.original_deleted_at, submission.original_deleted_reason = timezone.now(), reason
        submission.save(update_fields=["original_deleted_at", "original_deleted_reason"])
    return True


def spools_delete(submission: Submission) -> None:
    """Delete the spools parsed from the upload; the chunks' work is done, or the submission failed."""
    for name in set(submission.chunks.filter(spooled=True).values_list("path", flat=True)):
        default_storage.delete(name)


def originals_expire(*, now: datetime | None = None) -> int:
    """Delete the originals that outlived their use; return how many (beat, hourly).

    Failed submissions' originals after ``ORIGINAL_RETENTION_DAYS``; and
    any a ready or withdrawn submission still has, because the step that
    deletes them at once was cut short (a worker lost between two commits).
    """
    cutoff = (now or timezone.now()) - timedelta(days=settings.INGEST["ORIGINAL_RETENTION_DAYS"])
    kept = Submission.objects.filter(original_deleted_at__isnull=True).exclude(file="")
    due = {
        Submission.OriginalDeleted.WITHDRAWN: kept.filter(withdrawn_at__isnull=False),
        Submission.OriginalDeleted.INGESTED: kept.filter(status=Submission.Status.READY),
        Submission.OriginalDeleted.RETENTION: kept.filter(status=Submission.Status.FAILED, finished_at__lt=cutoff),
    }
    deleted = 0
    for reason, submissions in due.items():
        for submission_id in list(submissions.values_list("pk", flat=True)):
            deleted += original_delete(submission_id=submission_id, reason=reason)
    return deleted

