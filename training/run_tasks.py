"""Portal-side tasks for runs: record what GPU jobs report, sweep jobs that went quiet, build the tiny demo model."""

from celery import shared_task

from training.jobs.contract import RECORD_EVENT_TASK
from training.run_store import StoreError, StoreUnavailable

from .services.base_models import base_model_create_tiny
from .services.run_events import run_event_record
from .services.run_events import runs_sweep as sweep
from .services.runs import job_markers_write


# Idempotent on (job, attempt, seq): a redelivered message is recorded once.
@shared_task(name=RECORD_EVENT_TASK, acks_late=True, time_limit=60)
def record_event(run_id: str, seq: int, event: dict) -> None:
    run_event_record(run_id=run_id, seq=seq, event=event)


@shared_task(name="training.run_tasks.runs_sweep", time_limit=300)
def runs_sweep() -> int:
    return sweep()


# A cancel or a new attempt whose marker the object store did not take: try
# again for about five hours (a GPU host that shares no folder reads only these).
@shared_task(
    name="training.run_tasks.write_stop_markers", acks_late=True, time_limit=120,
    autoretry_for=(StoreError, StoreUnavailable), retry_backoff=30, retry_backoff_max=900, max_retries=24,
)  # fmt: skip
def write_stop_markers(job_id: str) -> None:
    job_markers_write(job_id=job_id)


# Idempotent on the name: a redelivered message finds the model registered and stops.
@shared_task(name="training.run_tasks.base_model_build_tiny", acks_late=True, time_limit=1800)
def base_model_build_tiny(name: str) -> None:
    base_model_create_tiny(name=name)
