"""Fetch snapshots and their files for a user, with the permission check.

Who may do what with a snapshot (docs/snapshots.md, "Downloads"):

- staff manage every snapshot: define, compare, see all lineage, download;
- people with the ``training.download_snapshot`` permission (training hosts,
  service accounts) download every ready snapshot;
- a ``SnapshotAccess`` grant lets one person download one ready snapshot;
- members of a partner whose data a ready snapshot holds see it (its page,
  card and manifest, their own lineage rows) but do not download its shards:
  a partner gave its data to the collective, not to the other partners.

Anyone else gets exactly what a missing snapshot gives, ``Http404``.
(Withdrawals are listed through ``selectors.withdrawals_visible_to``;
submissions go through ``annotation.access.access_submission``.)
"""

from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from .models import Snapshot, SnapshotSubmission
from .models.snapshots import SnapshotAccess
from .services.snapshot_files import SHARD, SnapshotFile, snapshot_file_lookup


def access_snapshot(user, snapshot_id) -> Snapshot:
    """Any snapshot, in any state, for staff: the pages that define, follow and compare builds."""
    if not (user.is_authenticated and user.is_staff):
        raise Http404("No such snapshot.")
    return _get(Snapshot.objects.all(), snapshot_id)


def access_snapshot_for_viewing(user, snapshot_id) -> Snapshot:
    """A snapshot ``user`` may see: any for staff; a ready one they may download or that holds their partner's data."""
    return _get(snapshots_viewable_by(user), snapshot_id)


def access_snapshot_for_download(user, snapshot_id) -> Snapshot:
    return _get(snapshots_downloadable_by(user), snapshot_id)


def access_snapshot_file(user, snapshot_id, path) -> tuple[Snapshot, SnapshotFile]:
    """One file the snapshot's manifest lists: card and manifest for viewers, shards for downloaders."""
    snapshot = access_snapshot_for_viewing(user, snapshot_id)
    file = snapshot_file_lookup(snapshot, path)
    if file is None or (file.kind == SHARD and not snapshot_downloadable(user, snapshot)):
        raise Http404("No such file.")
    return snapshot, file


def snapshots_downloadable_by(user):
    ready = Snapshot.objects.filter(status=Snapshot.Status.READY)
    if not user.is_authenticated:
        return ready.none()
    if user.is_staff or user.has_perm("training.download_snapshot"):
        return ready
    return ready.filter(pk__in=_granted(user))


def snapshots_viewable_by(user):
    if not user.is_authenticated:
        return Snapshot.objects.none()
    if user.is_staff:
        return Snapshot.objects.all()
    if user.has_perm("training.download_snapshot"):
        return Snapshot.objects.filter(status=Snapshot.Status.READY)
    holding_theirs = SnapshotSubmission.objects.filter(partner__memberships__user=user).values("snapshot_id")
    return Snapshot.objects.filter(Q(pk__in=_granted(user)) | Q(pk__in=holding_theirs), status=Snapshot.Status.READY)


def snapshot_lineage_visible_to(user, snapshot: Snapshot):
    """All of a snapshot's lineage rows for staff; a partner member sees their own partners' rows only."""
    rows = SnapshotSubmission.objects.filter(snapshot=snapshot).select_related("partner", "submission")
    return rows if user.is_staff else rows.filter(partner__memberships__user=user)


def snapshot_downloadable(user, snapshot: Snapshot) -> bool:
    """``snapshots_downloadable_by`` for a snapshot in hand: a query only for a per-snapshot grant."""
    if snapshot.status != Snapshot.Status.READY or not user.is_authenticated:
        return False
    if user.is_staff or user.has_perm("training.download_snapshot"):
        return True
    return _granted(user).filter(snapshot_id=snapshot.pk).exists()


def _granted(user):
    live = Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    return SnapshotAccess.objects.filter(live, user=user).values("snapshot_id")


def _get(queryset, snapshot_id) -> Snapshot:
    try:
        return queryset.get(pk=snapshot_id)
    except (Snapshot.DoesNotExist, ValueError, TypeError):
        raise Http404("No such snapshot.")
