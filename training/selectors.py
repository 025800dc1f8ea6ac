"""Reads for the snapshot pages."""

from .models import Snapshot, Withdrawal
from .services.lineage import snapshot_withdrawn


def snapshots_list():
    return Snapshot.objects.select_related("created_by").order_by("name", "-version")


def snapshot_runs(snapshot):
    """Training runs made from ``snapshot``: what a withdrawal from it reaches."""
    return snapshot.runs.select_related("base_model").order_by("-created_at")


def snapshots_withdrawn():
    """``[(snapshot, WithdrawnShare)]`` for the ready snapshots holding withdrawn data: what a new run is warned of."""
    ready = Snapshot.objects.filter(status=Snapshot.Status.READY).order_by("name", "-version")
    return [(snapshot, held) for snapshot in ready if (held := snapshot_withdrawn(snapshot))]


def withdrawals_visible_to(user):
    """A partner's withdrawals for its members; all of them for staff."""
    qs = Withdrawal.objects.select_related("partner", "submission", "submission__language", "requested_by")
    if not user.is_authenticated:
        return qs.none()
    if user.is_staff:
        return qs
    return qs.filter(partner__memberships__user=user)
