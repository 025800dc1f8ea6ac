"""Withdrawal: a partner takes back a submission or one record."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from annotation.models import Record, Submission
from annotation.selectors import records_at_lines
from annotation.services.originals import original_delete
from annotation.services.record_text import record_files_prune
from training.models import Snapshot, TrainingRun, Withdrawal

from .lineage import (
    credited_submissions, pairs_written_for, records_with_edits, snapshot_holds_any, snapshot_withdrawn_count,
)  # fmt: skip


def withdrawal_create(*, user, submission: Submission, record: Record | None = None, reason: str = "") -> Withdrawal:
    """Withdraw a submission or one of its records; the withdrawal that covers it (see ``withdrawal_get_or_create``)."""
    return withdrawal_get_or_create(user=user, submission=submission, record=record, reason=reason)[0]


def withdrawal_get_or_create(
    *, user, submission: Submission, record: Record | None = None, reason: str = "", follow_up: bool = True
) -> tuple[Withdrawal, bool]:
    """Mark the records withdrawn and record who asked; later snapshots leave them out, and their edits.

    Returns ``(withdrawal, created)``. Asking again for what is withdrawn
    already changes nothing and returns the withdrawal that covers it: the
    whole submission's, or the record's own. The submission's row lock
    makes two requests at once one withdrawal.

    The submission keeps its ingest figures; its ``withdrawn_*`` counters
    say what was taken back, which totals subtract (annotation.selectors).
    The edits keep their own status (they are the annotators' records), but
    snapshots take no edit whose chain holds a withdrawn record (edits.py).

    The caller has checked (access_submission) that ``user`` may act for the
    submission's partner. Raises ``ValidationError`` for a record of another
    submission, or while the submission's checks still run (ingest is still
    storing its records). Once committed, the ready snapshots holding the data
    are found and counted (``withdrawals_count``), so pages read figures, not shards.
    ``follow_up=False`` leaves the chunk files and the counting to the caller,
    which withdraws several records in one transaction and does both once after it.
    """
    if record is not None and record.submission_id != submission.pk:
        raise ValidationError("that record is not part of this submission")
    with transaction.atomic():
        locked = Submission.objects.select_for_update().get(pk=submission.pk)
        earlier = _covering(locked, record)
        if earlier is not None:
            return earlier, False
        if not locked.is_finished:
            raise ValidationError(
                _("This submission is still being checked. Withdraw it when its checks have finished.")
            )
        records = Record.objects.filter(pk=record.pk) if record else Record.objects.filter(submission=locked)
        records = records.exclude(status=Record.Status.WITHDRAWN)
        # Under the lock no other withdrawal runs, and nothing else sets a record withdrawn.
        tokens = records.aggregate(n=Sum("tokens"))["n"] or 0
        changed = records.update(status=Record.Status.WITHDRAWN)
        counters = {"withdrawn_records": F("withdrawn_records") + changed,
                    "withdrawn_tokens": F("withdrawn_tokens") + tokens}
        if record is None:
            counters |= {"withdrawn_at": timezone.now(), "withdrawn_by": user}
        Submission.objects.filter(pk=locked.pk).update(**counters)
        withdrawal = Withdrawal.objects.create(
            partner=locked.partner, submission=locked, record=record, reason=reason,
            requested_by=user, records_withdrawn=changed,
        )
    if record is None:  # the partner took it all back: the original goes at once
        original_delete(submission_id=submission.pk, reason=Submission.OriginalDeleted.WITHDRAWN)
    if follow_up:  # the text goes too, not just the flag: the chunk files are rewritten without it
        record_files_prune(submission_id=submission.pk)
        withdrawals_count(withdrawals=[withdrawal])
    submission.refresh_from_db(fields=["withdrawn_at", "withdrawn_by", "withdrawn_records", "withdrawn_tokens"])
    return withdrawal, True


def withdrawal_get_or_create_lines(
    *, user, submission: Submission, lines: list, reason: str = ""
) -> list[tuple[Withdrawal, bool]]:
    """Withdraw the records at ``lines`` as partners see them (``records_at_lines``), one withdrawal each.

    All or nothing: a line without a record raises ``ValidationError`` naming
    it, and nothing is withdrawn. Each line answers as ``withdrawal_get_or_create``
    does, so asking again changes nothing.
    """
    records = records_at_lines(submission, lines)
    with transaction.atomic():
        made = [withdrawal_get_or_create(user=user, submission=submission, record=record, reason=reason, follow_up=False)
                for record in records]  # fmt: skip
    # Once, after the commit: each file rewritten at most once, and never for rows a rollback kept.
    record_files_prune(submission_id=submission.pk)
    withdrawals_count(withdrawals=[withdrawal for withdrawal, created in made if created])
    return made


def _covering(submission: Submission, record: Record | None) -> Withdrawal | None:
    """The withdrawal that already covers ``record`` (or the whole ``submission``), oldest first."""
    covering = Q(submission=submission, record__isnull=True)
    if record is not None:
        covering |= Q(record=record)
    return Withdrawal.objects.filter(covering).order_by("created_at", "pk").first()


def snapshots_containing(withdrawal: Withdrawal) -> list[Snapshot]:
    """Ready snapshots that hold the withdrawn data, newest first (staff act on these)."""
    ready = Snapshot.objects.filter(status=Snapshot.Status.READY).order_by("-created_at", "-version")
    language = withdrawal.submission.language.code
    if withdrawal.record_id is not None:
        # A snapshot may hold an accepted edit in the record's place; the edit
        # leaves with the record, so look for the whole chain.
        record_ids = records_with_edits([withdrawal.record_id])
        record_ids += pairs_written_for(record_ids)  # credited to the record's submission too (select.Selection.sources)
        submissions = {withdrawal.submission_id} | credited_submissions([withdrawal.record_id])
        candidates = ready.filter(lineage__submission__in=submissions).distinct()
        return [s for s in candidates if snapshot_holds_any(s, record_ids=record_ids, language=language)]
    direct = list(ready.filter(lineage__submission=withdrawal.submission_id).distinct())
    # Edits written in this submission are credited to their originals'
    # submissions: look for them in the snapshots of those.
    edits = list(Record.objects.filter(submission=withdrawal.submission_id, edit_of__isnull=False).values_list("pk", flat=True))
    if not edits:
        return direct
    others = ready.filter(lineage__submission__in=credited_submissions(edits)).exclude(pk__in=[s.pk for s in direct])
    found = {s.pk for s in others.distinct() if snapshot_holds_any(s, record_ids=edits, language=language)}
    return list(ready.filter(pk__in={s.pk for s in direct} | found))


def withdrawals_count(*, withdrawals: list[Withdrawal]) -> None:
    """Store on each withdrawal the ready snapshots holding its data, then count each of those snapshots once.

    What a snapshot holds of withdrawn data changes only when a withdrawal
    reaches it (snapshots are immutable), so this is the one place that reads
    shards for it; pages read what it stored.
    """
    touched: set[int] = set()
    for withdrawal in withdrawals:
        touched |= {snapshot.pk for snapshot in _snapshots_found(withdrawal)}
    for snapshot_id in sorted(touched):
        snapshot_withdrawn_count(snapshot_id=snapshot_id)


def snapshot_built_count(*, snapshot: Snapshot) -> None:
    """Count a snapshot just built. A withdrawal made while it was building (its records already read)
    did not find it among the ready ones: those since its creation look again, when it holds withdrawn data."""
    if snapshot_withdrawn_count(snapshot_id=snapshot.pk):
        for withdrawal in Withdrawal.objects.filter(created_at__gte=snapshot.created_at):
            _snapshots_found(withdrawal)


def withdrawal_snapshots(withdrawal: Withdrawal) -> list[Snapshot]:
    """The ready snapshots holding the withdrawn data, newest first, as found when it was withdrawn: no shard read.

    A withdrawal from before they were stored is looked for now, once.
    """
    if withdrawal.snapshots_found_at is None:
        return _snapshots_found(withdrawal)
    return list(withdrawal.snapshots.order_by("-created_at", "-version"))


def _snapshots_found(withdrawal: Withdrawal) -> list[Snapshot]:
    found = snapshots_containing(withdrawal)
    withdrawal.snapshots.set(found)
    withdrawal.snapshots_found_at = timezone.now()
    withdrawal.save(update_fields=["snapshots_found_at"])
    return found


def withdrawal_exposure(withdrawal: Withdrawal) -> dict:
    """The ready snapshots that hold the withdrawn data, and the training runs made from them."""
    snapshots = withdrawal_snapshots(withdrawal)
    runs = TrainingRun.objects.filter(snapshot__in=snapshots).select_related("snapshot", "base_model").order_by("-created_at")
    return {"snapshots": snapshots, "runs": list(runs)}
