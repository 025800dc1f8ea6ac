"""Portal-side tasks for runs: record what GPU jobs report, sweep jobs that went quiet."""

from celery import shared_task

from .services.run_events import run_event_record
from .services.run_events import runs_sweep as sweep


# Idempotent on (job, attempt, seq): a redelivered message is recorded once.
@shared_task(name="training.run_tasks.record_event", acks_late=True, time_limit=60)
def record_event(run_id: str, seq: int, event: dict) -> None:
    run_event_record(run_id=run_id, seq=seq, event=event)


@shared_task(name="training.run_tasks.runs_sweep", time_limit=300)
def runs_sweep() -> int:
    return sweep()
