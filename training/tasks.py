"""Snapshot tasks: thin, idempotent, keyed by id (see services/snapshot_build.py)."""

import logging

from celery import shared_task

from .services.snapshot_build import snapshot_build as build

log = logging.getLogger(__name__)


# Idempotent: a ready snapshot returns at once; a half-built one is rebuilt
# from scratch into a fresh temporary folder. So acks_late is safe.
@shared_task(acks_late=True, soft_time_limit=12 * 3600, time_limit=12 * 3600 + 60)
def snapshot_build(snapshot_id: int) -> None:
    try:
        build(snapshot_id=snapshot_id)
    except Exception:
        log.exception("building snapshot %s failed", snapshot_id)
