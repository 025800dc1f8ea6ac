"""The sweeper: a job whose heartbeat stopped is resumed as a new attempt, up to max_attempts;
a job the broker never took is sent again."""

import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from occiportal import broker
from training import job_control
from training.jobs.contract import GPU_QUEUE, RUN_JOB_TASK, Heartbeat, Start
from training.models import TrainingRun
from training.services.run_events import run_event_record, runs_sweep

from .run_helpers import make_run

pytestmark = pytest.mark.django_db


def go_quiet(run):
    TrainingRun.objects.filter(pk=run.pk).update(lease_until=timezone.now() - timedelta(seconds=1))


def test_a_quiet_run_is_resumed_then_given_up_after_max_attempts():
    run = make_run(max_attempts=2)
    run_event_record(run_id=run.job_id, seq=0, event=Start(kind="train", attempt=1, total_steps=4).to_dict())
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
    run_event_record(run_id=run.job_id, seq=0, event=Heartbeat(attempt=1).to_dict())
    assert runs_sweep() == 0
    run.refresh_from_db()
    assert run.attempt == 1 and run.lease_until > timezone.now()


# -- a run the broker never took ---------------------------------------------------


def test_a_run_the_broker_did_not_take_is_committed_queued_and_sent_by_the_sweeper(
    broker_away, monkeypatch, django_capture_on_commit_callbacks
):  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        run = make_run()  # no error: the row is committed, the send is the sweeper's business
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.QUEUED and run.unsent_since is not None
    assert runs_sweep() == 0  # within the grace, the send may still be under way

    TrainingRun.objects.filter(pk=run.pk).update(unsent_since=timezone.now() - timedelta(minutes=3))
    sent = []
    monkeypatch.setattr(broker, "current_app", SimpleNamespace(send_task=lambda name, **kwargs: sent.append((name, kwargs))))
    with django_capture_on_commit_callbacks(execute=True):
        assert runs_sweep() == 1

    spec = run.manifest["job_spec"]
    assert [(name, json.loads(kwargs["args"][0]), kwargs["kwargs"], kwargs["queue"]) for name, kwargs in sent] == [
        (RUN_JOB_TASK, spec, {"attempt": 1}, GPU_QUEUE)
    ]
    run.refresh_from_db()
    assert (run.status, run.attempt, run.unsent_since) == (TrainingRun.Status.QUEUED, 1, None)
    assert runs_sweep() == 0


def test_a_run_sent_is_not_sent_again(monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(broker, "current_app", SimpleNamespace(send_task=lambda name, **kwargs: None))
    with django_capture_on_commit_callbacks(execute=True):
        run = make_run()
    TrainingRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(hours=1))

    assert TrainingRun.objects.get(pk=run.pk).unsent_since is None
    assert runs_sweep() == 0
