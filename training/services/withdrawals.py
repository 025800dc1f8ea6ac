"""Withdrawal: a partner takes back a submission or one record.

The request commits the withdrawal (the records' status, the counters, the
row) and deletes a withdrawn submission's original; everything that reads
files runs after it in the worker (``withdrawals_follow_up``): the text
leaves the chunk files, then the ready snapshots holding the data are found
and counted. Both grow with the data, not with the request: counting reads
every shard of every snapshot that holds the partner's data, which at the
mission's scale (dozens of snapshots of 10^8 rows) is minutes.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from annotation.models import Record, Submission
from annotation.selectors import records_at_lines
from annotation.services.originals import original_delete
from annotation.services.record_text import record_files_prune
from occiportal.broker import each_locked, send_on_commit
from training.models import Snapshot, SnapshotSubmission, TrainingRun, Withdrawal

from .lineage import (
    credited_submissions, pairs_written_for, records_with_edits, snapshot_holds_any, snapshot_withdrawn_count,
)  # fmt: skip

log = logging.getLogger(__name__)

FOLLOW_UP_TASK = "training.tasks.withdrawal_follow_up"
# The task's time limit: pruning one submission's files, then reading every
# shard of the snapshots holding it. A follow-up unfinished for longer died
# with its worker (or hit the limit): the sweeper queues it again.
FOLLOW_UP_SECONDS = 2 * 3600


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
    storing its records). The text removal and the counting are queued with
    the commit (``withdrawals_follow_up_send``) and run in the worker; until
    then the withdrawal says both are pending. ``follow_up=False`` leaves the
    queueing to the caller, which withdraws several records in one transaction
    and queues them all as one follow-up.
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
        if follow_up:
            withdrawals_follow_up_send(withdrawals=[withdrawal], now=timezone.now())
    if record is None:  # the partner took it all back: the original goes at once (one file, unread)
        original_delete(submission_id=submission.pk, reason=Submission.OriginalDeleted.WITHDRAWN)
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
        # One follow-up for them all: each file rewritten once, each snapshot counted once.
        withdrawals_follow_up_send(withdrawals=[withdrawal for withdrawal, created in made if created], now=timezone.now())
    return made


def withdrawals_follow_up_send(*, withdrawals: list[Withdrawal], now) -> None:
    """Queue the text removal and counting of ``withdrawals`` (one task), sent on commit and marked until the broker took it.

    Called inside the transaction that made or re-queues them; a broker away
    leaves the mark for the sweeper (``withdrawals_follow_up_sweep``).
    """
    ids = [withdrawal.pk for withdrawal in withdrawals]
    if not ids:
        return
    Withdrawal.objects.filter(pk__in=ids).update(follow_up_asked_at=now, follow_up_unsent_since=now)
    for withdrawal in withdrawals:
        withdrawal.follow_up_asked_at = withdrawal.follow_up_unsent_since = now
    marked = Withdrawal.objects.filter(pk__in=ids, follow_up_unsent_since=now)  # a later re-queue keeps its own mark
    send_on_commit(FOLLOW_UP_TASK, args=[ids], on_sent=lambda: marked.update(follow_up_unsent_since=None))


def withdrawals_follow_up(*, withdrawal_ids: list[int]) -> None:
    """Remove the withdrawn text from the chunk files, then find and count the ready snapshots holding the data.

    The worker's half of a withdrawal (task ``withdrawal_follow_up``).
    Idempotent, as a redelivery or a sweep needs: each step marks its time
    on the withdrawal and is skipped once marked, and both steps are
    idempotent themselves (a pruned file holds no withdrawn row; a count is a
    fresh read of immutable shards), so a worker dying half-way redoes only
    what was not marked.

    Why the prune moved here too, rather than staying in the request: it
    reads the line column of every chunk file of the submission and
    rewrites those holding a withdrawn line, so its cost grows with the
    submission (10^8-line pretraining corpora), and a request cut off by
    gunicorn lost it with no one to retry: the text stayed. Here it is
    durable (queued with the commit, marked, swept, redone until
    ``text_pruned_at`` is set), it runs first, before any shard is read, and
    until it is done the withdrawal's page and API say the removal is
    pending. Meanwhile the records are withdrawn already, so no later
    snapshot takes them; the wait is the queue's, seconds when a worker is
    free. The original upload, one file deleted unread, still goes in the
    request (``withdrawal_get_or_create``).
    """
    withdrawals = list(Withdrawal.objects.filter(pk__in=withdrawal_ids).order_by("pk"))
    unpruned: dict[int, list[int]] = {}
    for withdrawal in withdrawals:
        if withdrawal.text_pruned_at is None:
            unpruned.setdefault(withdrawal.submission_id, []).append(withdrawal.pk)
    for submission_id, ids in sorted(unpruned.items()):
        record_files_prune(submission_id=submission_id)  # every withdrawn record of it: these are committed
        Withdrawal.objects.filter(pk__in=ids).update(text_pruned_at=timezone.now())
    withdrawals_count(withdrawals=[withdrawal for withdrawal in withdrawals if withdrawal.snapshots_found_at is None])


def withdrawals_follow_up_sweep(*, now=None) -> int:
    """Queue again the follow-ups the broker never took, or that never finished; how many (beat, with the runs' sweep).

    Unsent: marked for longer than ``UNSENT_GRACE_SECONDS``. Unfinished: not
    pruned or not counted, and last queued longer ago than the task may run
    (its worker died, or it hit the limit), or never queued (withdrawn before
    the follow-up moved to the worker). Each is taken as ``each_locked`` takes it (SKIP LOCKED,
    checked again under the lock), so two sweepers at once queue it once.
    """
    now = now or timezone.now()
    grace = timedelta(seconds=settings.UNSENT_GRACE_SECONDS)
    unsent = Q(follow_up_unsent_since__lt=now - grace)
    unfinished = (Q(text_pruned_at__isnull=True) | Q(snapshots_found_at__isnull=True)) & Q(follow_up_unsent_since__isnull=True) & (
        Q(follow_up_asked_at__isnull=True) | Q(follow_up_asked_at__lt=now - grace - timedelta(seconds=FOLLOW_UP_SECONDS))
    )  # fmt: skip
    stale = Withdrawal.objects.filter(unsent | unfinished)

    def again(withdrawal: Withdrawal) -> None:
        log.warning("withdrawal %s: its follow-up was not sent or did not finish (queued at %s); queueing it again",
                    withdrawal.pk, withdrawal.follow_up_asked_at)  # fmt: skip
        withdrawals_follow_up_send(withdrawals=[withdrawal], now=now)

    return each_locked(stale, again)


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
    """Find the ready snapshots holding each withdrawal's data, count each of them once, then store them on the withdrawals.

    What a snapshot holds of withdrawn data changes only when a withdrawal
    reaches it (snapshots are immutable), so this is the one place that reads
    shards for it; pages read what it stored. It runs in the worker
    (``withdrawals_follow_up``); ``snapshots_found_at`` is set last, once the
    counts are stored, so a withdrawal that shows its snapshots shows them counted.
    """
    found = {withdrawal.pk: snapshots_containing(withdrawal) for withdrawal in withdrawals}
    for snapshot_id in sorted({snapshot.pk for snapshots in found.values() for snapshot in snapshots}):
        snapshot_withdrawn_count(snapshot_id=snapshot_id)
    for withdrawal in withdrawals:
        # Added, not set: a snapshot that became ready meanwhile may have been added by its build (below).
        withdrawal.snapshots.add(*found[withdrawal.pk])
        withdrawal.snapshots_found_at = timezone.now()
        withdrawal.save(update_fields=["snapshots_found_at"])


def snapshot_built_count(*, snapshot: Snapshot) -> None:
    """Count a snapshot just built. A withdrawal made while it was building (its records already read)
    did not find it among the ready ones: those since its creation look again, when it holds withdrawn data.

    One whose follow-up is still pending gets the snapshot added, not its time
    set: its own counting may have looked before this snapshot was ready.
    """
    if snapshot_withdrawn_count(snapshot_id=snapshot.pk):
        for withdrawal in Withdrawal.objects.filter(created_at__gte=snapshot.created_at):
            found = snapshots_containing(withdrawal)
            if withdrawal.snapshots_found_at is None:
                withdrawal.snapshots.add(*[s for s in found if s.pk == snapshot.pk])
            else:
                withdrawal.snapshots.set(found)


def withdrawal_snapshots(withdrawal: Withdrawal) -> list[Snapshot] | None:
    """The ready snapshots holding the withdrawn data, newest first, as found in the worker: no shard read.

    ``None`` while the counting is pending (``withdrawals_follow_up``): pages say so.
    """
    if withdrawal.snapshots_found_at is None:
        return None
    return list(withdrawal.snapshots.order_by("-created_at", "-version"))


def snapshot_withdrawals_pending(snapshot: Snapshot) -> bool:
    """Whether a withdrawal that may reach ``snapshot`` is still being counted: its stored figures may be behind.

    One made since the snapshot's build began, of a submission in its lineage
    (edits and written pairs are credited there too), or of a submission
    holding edits, whose originals may sit elsewhere. From the database only.
    """
    pending = Withdrawal.objects.filter(snapshots_found_at__isnull=True, created_at__gte=snapshot.created_at)
    lineage = SnapshotSubmission.objects.filter(snapshot=snapshot).values("submission")
    edits = Record.objects.filter(submission=OuterRef("submission"), edit_of__isnull=False)
    return pending.filter(Q(submission__in=lineage) | Q(Exists(edits))).exists()


def withdrawal_exposure(withdrawal: Withdrawal) -> dict:
    """The ready snapshots that hold the withdrawn data, and the training runs made from them; ``pending`` while counting."""
    snapshots = withdrawal_snapshots(withdrawal)
    if snapshots is None:
        return {"pending": True, "snapshots": [], "runs": []}
    runs = TrainingRun.objects.filter(snapshot__in=snapshots).select_related("snapshot", "base_model").order_by("-created_at")
    return {"pending": False, "snapshots": snapshots, "runs": list(runs)}
