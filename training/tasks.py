"""Snapshot tasks: thin, idempotent, keyed by id (see services/snapshot_build.py and services/hub.py)."""

import logging

from celery import shared_task

from .services.hub import PUSH_SECONDS
from .services.hub import snapshot_hub_push as push
from .models import Snapshot
from .services.snapshot_build import snapshot_build as build
from .services.storage import snapshot_upload

log = logging.getLogger(__name__)


# Idempotent: a ready snapshot returns at once; a half-built one is rebuilt
# from scratch into a fresh temporary folder; the upload to the object store
# (when one is configured) sends nothing it sent before. So acks_late is safe.
@shared_task(acks_late=True, soft_time_limit=12 * 3600, time_limit=12 * 3600 + 60)
def snapshot_build(snapshot_id: int) -> None:
    try:
        snapshot = build(snapshot_id=snapshot_id)
        if snapshot.status == Snapshot.Status.READY:
            snapshot_upload(snapshot=snapshot)  # here, so that starting a run never waits for it
    except Exception:
        log.exception("building snapshot %s failed", snapshot_id)


# On the default queue. Idempotent: a pushed snapshot returns at once, a second
# delivery while the first uploads returns, and a push cut off half-way is
# redone (the Hub keeps the blobs it has, and skips an empty commit). So
# acks_late is safe, and a push longer than the broker's visibility timeout,
# delivered again, is not uploaded twice.
@shared_task(acks_late=True, soft_time_limit=PUSH_SECONDS, time_limit=PUSH_SECONDS + 120)
def snapshot_hub_push(snapshot_id: int) -> None:
    snapshot = push(snapshot_id=snapshot_id)
    if snapshot.hub_status == snapshot.HubStatus.FAILED:
        log.warning("pushing snapshot %s to %s failed: %s", snapshot.label, snapshot.hub_repo, snapshot.hub_error)
