"""Withdrawal: a partner takes back a submission or one record."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from annotation.models import Record, Submission
from annotation.services.originals import original_delete
from training.models import Snapshot, Withdrawal

from .lineage import snapshot_holds_any


def withdrawal_create(*, user, submission: Submission, record: Record | None = None, reason: str = "") -> Withdrawal:
    """Withdraw a submission or one of its records; the withdrawal that covers it (see ``withdrawal_get_or_create``)."""
    return withdrawal_get_or_create(user=user, submission=submission, record=record, reason=reason)[0]


def withdrawal_get_or_create(
    *, user, submission: Submission, record: Record | None = None, reason: str = ""
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
    storing its records).
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
    submission.refresh_from_db(fields=["withdrawn_at", "withdrawn_by", "withdrawn_records", "withdrawn_tokens"])
    return withdrawal, True


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
        record_ids = record_with_edits(withdrawal.record_id)
        submissions = {withdrawal.submission_id} | _credited_submissions([withdrawal.record_id])
        candidates = ready.filter(lineage__submission__in=submissions).distinct()
        return [s for s in candidates if snapshot_holds_any(s, record_ids=record_ids, language=language)]
    direct = list(ready.filter(lineage__submission=withdrawal.submission_id).distinct())
    # Edits written in this submission are credited to their originals'
    # submissions: look for them in the snapshots of those.
    edits = list(Record.objects.filter(submission=withdrawal.submission_id, edit_of__isnull=False).values_list("pk", flat=True))
    if not edits:
        return direct
    others = ready.filter(lineage__submission__in=_credited_submissions(edits)).exclude(pk__in=[s.pk for s in direct])
    found = {s.pk for s in others.distinct() if snapshot_holds_any(s, record_ids=edits, language=language)}
    return list(ready.filter(pk__in={s.pk for s in direct} | found))


def _credited_submissions(record_ids: list[int]) -> set[int]:
    """The submissions of the records these edits correct, up their chains: where snapshots credit the edits."""
    submissions, frontier = set(), record_ids
    while frontier:
        parents = list(Record.objects.filter(pk__in=frontier, edit_of__isnull=False).values_list("edit_of", "edit_of__submission"))
        submissions |= {submission for _, submission in parents}
        frontier = [parent for parent, _ in parents]
    return submissions


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
