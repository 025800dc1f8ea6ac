"""Recording job events: idempotent on (run, attempt, seq), refused for unknown, cancelled or superseded jobs."""

import dataclasses

import pytest
from django.urls import reverse

from training.jobs.contract import Done, Error, Event, Progress, Start
from training.models import RunEvent, TrainingRun
from training.services.run_events import run_event_record
from training.services.runs import job_cancel

from .run_helpers import make_run

pytestmark = pytest.mark.django_db


def record(run, seq, event: Event):
    return run_event_record(run_id=run.job_id, seq=seq, event=dataclasses.replace(event, attempt=run.attempt).to_dict())


def test_the_same_event_twice_is_recorded_once():
    run = make_run()
    assert record(run, 0, Start(kind="train", total_steps=4))
    assert not record(run, 0, Start(kind="train", total_steps=4))
    assert RunEvent.objects.filter(run=run).count() == 1
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.RUNNING and run.total_steps == 4 and run.heartbeat_at


def test_events_of_unknown_jobs_are_refused(caplog):
    assert not run_event_record(run_id="run-999999", seq=0, event=Start(kind="train").to_dict())
    assert not run_event_record(run_id="nonsense", seq=0, event=Start(kind="train").to_dict())
    assert RunEvent.objects.count() == 0
    assert "unknown job" in caplog.text


def test_events_of_a_cancelled_run_are_refused(staff):
    run = make_run()
    assert job_cancel(user=staff, job=run)
    assert not record(run, 0, Start(kind="train"))
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.CANCELLED and not run.events.exists()


def test_events_of_an_older_attempt_are_refused():
    run = make_run()
    TrainingRun.objects.filter(pk=run.pk).update(attempt=2)
    assert not run_event_record(run_id=run.job_id, seq=5, event=Progress(attempt=1, step=3).to_dict())
    assert not run.events.exists()


def test_progress_arriving_late_does_not_move_the_run_back():
    run = make_run()
    record(run, 0, Start(kind="train", total_steps=4))
    record(run, 2, Progress(step=2, total_steps=4, loss=2.0, tokens_per_second=10.0))
    record(run, 1, Progress(step=1, total_steps=4, loss=3.0, tokens_per_second=9.0))
    run.refresh_from_db()
    assert (run.step, run.loss) == (2, 2.0)


def test_done_finishes_the_run_and_a_late_start_changes_nothing():
    run = make_run()
    record(run, 1, Done(steps=4, final_loss=1.5, tokens_per_second=100.0, checkpoint="/x/final", log_tail=["ok"]))
    record(run, 0, Start(kind="train", total_steps=4))
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED
    assert (run.step, run.loss, run.checkpoint_path, run.log_tail) == (4, 1.5, "/x/final", "ok")


def test_a_crash_resumes_as_a_new_attempt_and_a_plain_error_fails():
    run = make_run()
    record(run, 0, Error(message="the job process died (exit code -9)", resumable=True, log_tail=["Killed"]))
    run.refresh_from_db()
    assert (run.status, run.attempt) == (TrainingRun.Status.QUEUED, 2)
    assert "attempt 1 of 3 failed" in run.failure
    record(run, 0, Error(message="SnapshotError: manifest missing", resumable=False, log_tail=["Traceback"]))
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED
    assert run.failure == "failed: SnapshotError: manifest missing" and run.log_tail == "Traceback"


def test_a_finished_run_is_evaluated_and_so_is_its_base_model_once(settings):
    from pathlib import Path

    from training.models import EvaluationRun
    from training.services.runs import evaluation_suite_create

    folder = Path(settings.DATA_DIR) / "suites" / "mini"
    folder.mkdir(parents=True)
    (folder / "de.jsonl").write_text('{"text": "Hallo Welt."}\n')
    suite = evaluation_suite_create(path=str(folder))
    final = str(Path(settings.DATA_DIR) / "runs" / "final")
    for _ in range(2):
        run = make_run(eval_suites=[suite])
        record(run, 0, Done(steps=4, final_loss=1.0, tokens_per_second=1.0, checkpoint=final))
        assert EvaluationRun.objects.get(training_run=run).model_path == final
    base = EvaluationRun.objects.get(training_run=None)
    assert base.base_model == run.base_model and list(base.suites.all()) == [suite]


@pytest.mark.parametrize("event", [
    "not an object",
    {"event": "launch", "schema": 1},
    {"event": "progress", "schema": 1, "step": "three"},
    {"event": "progress", "schema": 1, "steps": 3},
    {"event": "checkpoint", "schema": 1, "step": 3},
], ids=["not-an-object", "unknown-kind", "mistyped-field", "unknown-field", "missing-field"])  # fmt: skip
def test_a_malformed_event_is_refused_and_logged(event, caplog):
    run = make_run()
    assert not run_event_record(run_id=run.job_id, seq=0, event=event)
    assert not run.events.exists() and f"refused event 0 of {run.job_id}" in caplog.text


@pytest.mark.parametrize("schema", [2, None], ids=["newer", "none"])
def test_an_event_of_an_unknown_schema_version_is_refused(schema, caplog):
    run = make_run()
    event = {**Start(kind="train", attempt=1, total_steps=4).to_dict(), "schema": schema}
    assert not run_event_record(run_id=run.job_id, seq=0, event=event)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.QUEUED and not run.events.exists()
    assert "event schema" in caplog.text


def test_a_resumed_run_that_succeeds_keeps_the_failure_as_history_not_as_its_message(client, staff):
    run = make_run()
    record(run, 0, Error(message="the job process died (exit code -9)", resumable=True))
    run.refresh_from_db()
    record(run, 1, Done(steps=4, final_loss=1.5, checkpoint="/x/final"))
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED and run.failure == ""
    assert "attempt 1 of 3 failed" in run.manifest["earlier_failures"][0]
    client.force_login(staff)
    page = client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert "data-earlier-failures" in page and "notice-error" not in page


def test_a_dpo_runs_reward_figures_are_recorded_with_its_progress_and_listed_on_its_page(client, staff):
    run = make_run()
    figures = {"reward_accuracy": 0.75, "reward_margin": 1.25, "chosen_reward": 0.5, "rejected_reward": -0.75}
    assert record(run, 0, Progress(step=2, total_steps=4, loss=0.4, **figures))
    assert record(run, 1, Progress(step=3, total_steps=4, loss=0.3))  # a window without them keeps the last ones
    run.refresh_from_db()
    assert run.progress_metrics == figures and run.step == 3

    client.force_login(staff)
    page = client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert 'data-metric="reward_accuracy"><td>Reward accuracy</td><td class="num">0.7500<' in page
    assert 'data-metric="rejected_reward"><td>Reward of the rejected answers</td><td class="num">-0.7500<' in page


def test_a_progress_event_with_a_mistyped_reward_is_refused(caplog):
    run = make_run()
    event = {**Progress(step=1, attempt=run.attempt).to_dict(), "reward_accuracy": "high"}
    assert not run_event_record(run_id=run.job_id, seq=0, event=event)
    assert "reward_accuracy must be" in caplog.text
