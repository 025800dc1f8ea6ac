"""Define snapshots (parameters and licences checked, version numbered, build enqueued durably); grant downloads."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max

from django.utils import timezone

from annotation.licenses import BY_SPDX
from occiportal.broker import send_marked_on_commit, unsent_resend
from training.models import Snapshot
from training.models.snapshots import SnapshotAccess
from training.snapshots.estimate import snapshot_estimate
from training.snapshots.params import ParameterError, normalise

from .hub import snapshot_hub_push_send
from .snapshot_build import SnapshotRefused, snapshot_license_check

BUILD_TASK = "training.tasks.snapshot_build"


def snapshot_create(
    *, name: str, license: str, parameters: dict, created_by=None, description: str = "",
    override_reason: str = "", enqueue: bool = True,
) -> Snapshot:
    """A new version of snapshot ``name``, checked and (by default) queued for building.

    Raises ValidationError for bad parameters, SnapshotRefused when licences
    conflict and no override reason is given, BudgetRefused when a mixture's
    token budget needs more than ``max_epochs`` repeats of a document. Only
    staff may give an override reason, and only as ``created_by``: the card
    names who gave it.
    """
    if license not in BY_SPDX:
        raise ValidationError(f"unknown licence {license!r}")
    try:
        params = normalise(parameters)
    except ParameterError as error:
        raise ValidationError(str(error)) from error
    if override_reason.strip() and (created_by is None or not created_by.is_staff):
        raise ValidationError("only staff may override licence conflicts")
    conflicts = snapshot_license_check(params=params, license=license)
    if conflicts and not override_reason.strip():
        raise SnapshotRefused(conflicts)
    if params["mixture"]:
        snapshot_estimate(params)  # refuses budgets beyond the repetition cap before a version is numbered
    snapshot = _numbered(name=name, license=license, params=params, created_by=created_by, description=description,
                         override_reason=override_reason, conflicts=conflicts)
    if enqueue:
        snapshot_build_send(snapshot=snapshot, now=timezone.now())
    return snapshot


def snapshot_build_send(*, snapshot: Snapshot, now) -> None:
    """Mark the build unsent since ``now`` and send it on commit; a broker away leaves the mark for the sweeper."""
    snapshot.build_unsent_since = now
    snapshot.save(update_fields=["build_unsent_since"])
    send_marked_on_commit(BUILD_TASK, row=snapshot, field="build_unsent_since", args=[snapshot.pk])


def snapshots_unsent_sweep(*, now=None) -> int:
    """Send again the builds and Hub pushes whose message the broker never took; how many (beat, with the runs' sweep)."""
    now = now or timezone.now()
    builds = unsent_resend(Snapshot.objects.filter(status=Snapshot.Status.DRAFT), field="build_unsent_since", now=now,
                           send=lambda snapshot: snapshot_build_send(snapshot=snapshot, now=now))
    pushes = unsent_resend(Snapshot.objects.filter(hub_status=Snapshot.HubStatus.QUEUED), field="hub_unsent_since",
                           now=now, send=lambda snapshot: snapshot_hub_push_send(snapshot=snapshot, now=now))
    return builds + pushes


def _numbered(*, name, license, params, created_by, description, override_reason, conflicts) -> Snapshot:
    """Create the row with the next version; two concurrent creates retry on the unique constraint."""
    for _ in range(5):
        version = (Snapshot.objects.filter(name=name).aggregate(v=Max("version"))["v"] or 0) + 1
        try:
            with transaction.atomic():
                return Snapshot.objects.create(
                    name=name, version=version, license=license, parameters=params, created_by=created_by,
                    description=description, license_override_reason=override_reason.strip(), license_conflicts=conflicts,
                )
        except IntegrityError:
            continue
    raise IntegrityError(f"could not number a new version of {name}")


def snapshot_access_grant(*, snapshot: Snapshot, user, granted_by, reason: str, expires_at=None) -> SnapshotAccess:
    """Let ``user`` download ``snapshot``'s files until ``expires_at`` (None: until revoked by deleting the grant).

    Staff only, with the reason recorded: what the data is for and which
    licence terms were accepted. Granting again replaces reason and expiry.
    """
    if granted_by is None or not granted_by.is_staff:
        raise PermissionDenied("only staff grant downloads")
    if not reason.strip():
        raise ValidationError("say what the data is for and which licence terms were accepted")
    grant, _ = SnapshotAccess.objects.update_or_create(
        snapshot=snapshot, user=user, defaults={"reason": reason.strip(), "expires_at": expires_at, "granted_by": granted_by},
    )
    return grant
