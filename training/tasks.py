"""Training's tasks: thin, idempotent, keyed by id; each calls one service.

Snapshots are built and pushed to the Hub here, withdrawals' text removed
and the snapshots holding it counted; runs' events are recorded,
quiet jobs swept, stop markers written and the tiny demo model built. Every
task keeps the name it was first queued under (``name=``): a message sent
before a module moved must still find its task. Services send by name
(occiportal/broker.py) and never import this module.
"""

import logging

from celery import shared_task

from training.jobs.contract import RECORD_EVENT_TASK
from training.models import Snapshot
from training.run_store import StoreError, StoreUnavailable
from training.services.base_models import BUILD_TINY, base_model_create_tiny
from training.services.hub import PUSH_SECONDS, PUSH_TASK
from training.services.hub import snapshot_hub_push as push
from training.services.run_events import run_event_record
from training.services.run_events import runs_sweep as sweep
from training.services.runs import WRITE_MARKERS, job_markers_write
from training.services.snapshot_build import snapshot_build as build
from training.services.snapshots import BUILD_TASK, snapshots_unsent_sweep
from training.services.storage import snapshot_upload
from training.services.withdrawals import (
    FOLLOW_UP_SECONDS, FOLLOW_UP_TASK, snapshot_built_count, withdrawals_follow_up, withdrawals_follow_up_sweep,
)  # fmt: skip

log = logging.getLogger(__name__)

RUNS_SWEEP = "training.run_tasks.runs_sweep"  # beat's schedule names it (settings.CELERY_BEAT_SCHEDULE)


# -- snapshots -------------------------------------------------------------------------------------

# Idempotent: a ready snapshot returns at once; a half-built one is rebuilt
# from scratch into a fresh temporary folder; the upload to the object store
# (when one is configured) sends nothing it sent before. So acks_late is safe.
@shared_task(name=BUILD_TASK, acks_late=True, soft_time_limit=12 * 3600, time_limit=12 * 3600 + 60)
def snapshot_build(snapshot_id: int) -> None:
    try:
        snapshot = build(snapshot_id=snapshot_id)
        if snapshot.status == Snapshot.Status.READY:
            snapshot_built_count(snapshot=snapshot)  # what it holds of data withdrawn while it was building
            snapshot_upload(snapshot=snapshot)  # here, so that starting a run never waits for it
    except Exception:
        log.exception("building snapshot %s failed", snapshot_id)


# On the default queue. Idempotent: a pushed snapshot returns at once, a second
# delivery while the first uploads returns, and a push cut off half-way is
# redone (the Hub keeps the blobs it has, and skips an empty commit). So
# acks_late is safe, and a push longer than the broker's visibility timeout,
# delivered again, is not uploaded twice.
@shared_task(name=PUSH_TASK, acks_late=True, soft_time_limit=PUSH_SECONDS, time_limit=PUSH_SECONDS + 120)
def snapshot_hub_push(snapshot_id: int) -> None:
    snapshot = push(snapshot_id=snapshot_id)
    if snapshot.hub_status == snapshot.HubStatus.FAILED:
        log.warning("pushing snapshot %s to %s failed: %s", snapshot.label, snapshot.hub_repo, snapshot.hub_error)


# -- withdrawals -----------------------------------------------------------------------------------

# On the default queue, sent with the withdrawal's commit. Idempotent: each
# step (the text removal, the counting) is marked on the withdrawal when done
# and skipped once marked, so a redelivery redoes only what is missing and
# acks_late is safe. Takes the ids of one request's withdrawals, counted together.
@shared_task(name=FOLLOW_UP_TASK, acks_late=True, soft_time_limit=FOLLOW_UP_SECONDS, time_limit=FOLLOW_UP_SECONDS + 60)
def withdrawal_follow_up(withdrawal_ids: list[int]) -> None:
    withdrawals_follow_up(withdrawal_ids=withdrawal_ids)


# -- runs ------------------------------------------------------------------------------------------

# Idempotent on (job, attempt, seq): a redelivered message is recorded once.
@shared_task(name=RECORD_EVENT_TASK, acks_late=True, time_limit=60)
def record_event(run_id: str, seq: int, event: dict) -> None:
    run_event_record(run_id=run_id, seq=seq, event=event)


# Also sends again the snapshot builds and Hub pushes the broker never took, and
# the withdrawals' follow-ups never sent or never finished: one training
# sweeper on beat, under the name it was first scheduled by.
@shared_task(name=RUNS_SWEEP, time_limit=300)
def runs_sweep() -> int:
    return sweep() + snapshots_unsent_sweep() + withdrawals_follow_up_sweep()


# A cancel or a new attempt whose marker the object store did not take: try
# again for about five hours (a GPU host that shares no folder reads only these).
@shared_task(
    name=WRITE_MARKERS, acks_late=True, time_limit=120,
    autoretry_for=(StoreError, StoreUnavailable), retry_backoff=30, retry_backoff_max=900, max_retries=24,
)  # fmt: skip
def write_stop_markers(job_id: str) -> None:
    job_markers_write(job_id=job_id)


# Idempotent on the name: a redelivered message finds the model registered and stops.
@shared_task(name=BUILD_TINY, acks_late=True, time_limit=1800)
def base_model_build_tiny(name: str) -> None:
    base_model_create_tiny(name=name)
