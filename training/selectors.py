"""Reads for the snapshot pages, and where a submission's data went."""

from django.db.models import Q

from .models import Snapshot, SnapshotSubmission, TrainingRun, Withdrawal
from .run_selectors import runs_withdrawn
from .services.lineage import snapshot_withdrawn_share, snapshots_maybe_withdrawn
from .services.withdrawals import withdrawal_snapshots


def snapshots_list():
    return Snapshot.objects.select_related("created_by").order_by("name", "-version")


def snapshot_runs(snapshot):
    """Training runs made from ``snapshot``: what a withdrawal from it reaches."""
    return snapshot.runs.select_related("base_model").order_by("-created_at")


def snapshots_withdrawn():
    """``[(snapshot, WithdrawnShare)]`` for the ready snapshots holding withdrawn data: what a new run is warned of.

    The figures stored at the last withdrawal; a snapshot never counted is counted first, once.
    """
    ready = Snapshot.objects.filter(status=Snapshot.Status.READY)
    uncounted = snapshots_maybe_withdrawn(ready.filter(withdrawn_counted_at__isnull=True))
    listed = ready.filter(Q(withdrawn_records__gt=0) | Q(pk__in=uncounted.values("pk"))).order_by("name", "-version")
    return [(snapshot, held) for snapshot in listed if (held := snapshot_withdrawn_share(snapshot))]


def withdrawals_visible_to(user):
    """A partner's withdrawals for its members; all of them for staff."""
    qs = Withdrawal.objects.select_related("partner", "submission", "submission__language", "requested_by", "record")
    if not user.is_authenticated:
        return qs.none()
    if user.is_staff:
        return qs
    return qs.filter(partner__memberships__user=user)


def submission_data_uses(submission) -> dict:
    """The ready snapshots holding ``submission``'s data and the runs (models) trained on them, newest first.

    ``{"withdrawals": [{"withdrawal", "snapshots"}], "counting", "snapshots": [{"snapshot", "records", "withdrawn"}],
    "runs": [{"run", "withdrawn", "state"}]}``: ``withdrawn`` says whether it
    holds what the partner withdrew of this submission; a withdrawal's
    ``snapshots`` is None while the worker counts them, and ``counting`` says
    whether one is. A run's ``state`` is
    "retrained", "unpublished" or, while it is still public, "published"
    (marked wherever it shows), and for a run holding nothing withdrawn
    "public" or "private". The partner sees every run, published or not: it
    is their data.
    """
    lineage = SnapshotSubmission.objects.filter(submission=submission, snapshot__status=Snapshot.Status.READY)
    records = dict(lineage.values_list("snapshot_id", "records"))
    withdrawals = list(submission.withdrawals.select_related("record")) if submission.withdrawn_records else []
    exposure = {withdrawal.pk: withdrawal_snapshots(withdrawal) for withdrawal in withdrawals}  # None: counting
    affected = {s.pk for found in exposure.values() for s in found or ()}
    snapshots = Snapshot.objects.filter(pk__in=set(records) | affected).order_by("-created_at", "-version")
    runs = list(TrainingRun.objects.filter(snapshot__in=snapshots).select_related("snapshot", "base_model"))
    marks = runs_withdrawn([run for run in runs if run.snapshot_id in affected])
    return {
        "withdrawals": [{"withdrawal": w, "snapshots": exposure[w.pk]} for w in reversed(withdrawals)],
        "counting": any(found is None for found in exposure.values()),
        "snapshots": [{"snapshot": s, "records": records.get(s.pk), "withdrawn": s.pk in affected} for s in snapshots],
        "runs": [{"run": run, "withdrawn": marks.get(run.pk), "state": _run_state(run, marks.get(run.pk))}
                 for run in runs],
    }


def _run_state(run, withdrawn) -> str:
    if withdrawn is not None:
        return withdrawn.state
    return "public" if run.published else "private"
