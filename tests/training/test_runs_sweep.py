"""The sweeper: a job whose heartbeat stopped is resumed as a new attempt, up to max_attempts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from training import job_control
from training.models import TrainingRun
from training.services.run_events import run_event_record, runs_sweep

from .run_helpers import make_run

pytestmark = pytest.mark.django_db


def go_quiet(run):
    TrainingRun.objects.filter(pk=run.pk).update(lease_until=timezone.now() - timedelta(seconds=1))


def test_a_quiet_run_is_resumed_then_given_up_after_max_attempts():
    run = make_run(max_attempts=2)
    run_event_record(run_id=run.job_id, seq=0, event={"event": "start", "attempt": 1, "total_steps": 4})
    go_quiet(run)
    assert runs_sweep() == 1
    run.refresh_from_db()
    assert (run.status, run.attempt) == (TrainingRun.Status.QUEUED, 2)
    assert "no heartbeat since" in run.failure and "resuming" in run.failure
    # The worker still running attempt 1 sees it was superseded and stops its child.
    assert job_control.should_stop(run.output_dir, 1) and not job_control.should_stop(run.output_dir, 2)

    go_quiet(run)
    assert runs_sweep() == 1
    run.refresh_from_db()
    assert (run.status, run.attempt) == (TrainingRun.Status.FAILED, 2)
    assert run.failure == "failed after 2 attempts: the job never started"
    assert runs_sweep() == 0


def test_a_run_with_a_live_lease_is_left_alone():
    run = make_run()
    run_event_record(run_id=run.job_id, seq=0, event={"event": "heartbeat", "attempt": 1})
    assert runs_sweep() == 0
    run.refresh_from_db()
    assert run.attempt == 1 and run.lease_until > timezone.now()
