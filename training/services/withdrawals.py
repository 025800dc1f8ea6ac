"""Withdrawal: a partner takes back a submission or one record."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from annotation.models import Record, Submission
from training.models import Snapshot, Withdrawal

from .lineage import snapshot_holds_any


def withdrawal_create(*, user, submission: Submission, record: Record | None = None, reason: str = "") -> Withdrawal:
    """Mark the records withdrawn and record who asked; later snapshots leave them out, and their edits.

    The edits keep their own status (they are the annotators' records), but
    snapshots take no edit whose chain holds a withdrawn record (edits.py).

    The caller has checked (access_submission) that ``user`` may act for the
    submission's partner. Withdrawing twice is harmless: the count is what
    changed this time.
    """
    if record is not None and record.submission_id != submission.pk:
        raise ValidationError("that record is not part of this submission")
    with transaction.atomic():
        records = Record.objects.filter(pk=record.pk) if record else Record.objects.filter(submission=submission)
        changed = records.exclude(status=Record.Status.WITHDRAWN).update(status=Record.Status.WITHDRAWN)
        return Withdrawal.objects.create(
            partner=submission.partner, submission=submission, record=record, reason=reason,
            requested_by=user, records_withdrawn=changed,
        )


def snapshots_containing(withdrawal: Withdrawal) -> list[Snapshot]:
    """Ready snapshots that hold the withdrawn data, newest first (staff act on these)."""
    candidates = Snapshot.objects.filter(
        status=Snapshot.Status.READY, lineage__submission=withdrawal.submission_id
    ).order_by("-created_at", "-version")
    if withdrawal.record_id is None:
        return list(candidates)
    # A snapshot may hold an accepted edit in the record's place (credited to
    # its submission, hence the lineage filter above still applies); the edit
    # leaves with the record, so look for the whole chain.
    record_ids = record_with_edits(withdrawal.record_id)
    language = withdrawal.submission.language.code
    return [s for s in candidates if snapshot_holds_any(s, record_ids=record_ids, language=language)]


def record_with_edits(record_id: int) -> list[int]:
    """``record_id`` and every record that corrects it, edits of edits included."""
    found, frontier = [record_id], [record_id]
    while frontier:
        frontier = list(Record.objects.filter(edit_of__in=frontier).values_list("pk", flat=True))
        found += frontier
    return found


def withdrawal_exposure(withdrawal: Withdrawal) -> dict:
    """The ready snapshots that hold the withdrawn data, and the training runs made from them."""
    from training.models import TrainingRun

    snapshots = snapshots_containing(withdrawal)
    runs = TrainingRun.objects.filter(snapshot__in=snapshots).select_related("snapshot", "base_model").order_by("-created_at")
    return {"snapshots": snapshots, "runs": list(runs)}
