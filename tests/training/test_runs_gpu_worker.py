"""The GPU worker task: no Django models, no torch in its process; one final event with the log tail.

Stop markers in the object store are read from moto's S3 server (tests/training/jobs/object_store.py).
"""

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.training.jobs.object_store import KEYS, object_store, s3_endpoint  # noqa: F401 - fixtures
from training import job_control
from training.gpu_worker import final_event, library_versions
from training import run_store
from training.jobs.contract import RECORD_EVENT_TASK, RUN_JOB_TASK, Done, Error, JobSpec, Progress, Start, event_from_dict
from training.jobs.runner import JobResult

ROOT = Path(__file__).resolve().parents[2]

# Imports the worker's app as `celery -A training.gpu_worker worker` does, and
# reads the configuration its worker would start with, on a host where Django
# cannot be imported at all (kombu's JSON encoder would otherwise probe it).
GPU_WORKER = """
import sys

class NoDjango:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "django":
            raise ImportError(name)

sys.meta_path.insert(0, NoDjango())
from training.gpu_worker import app
app.loader.import_default_modules()
assert app.conf.broker_url and app.tasks[RUN_JOB_TASK]
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {"django", "torch", "transformers", "peft", "occiportal"})
assert not loaded, loaded
""".replace("RUN_JOB_TASK", repr(RUN_JOB_TASK))


def test_the_gpu_worker_app_loads_no_django_and_needs_no_secret_key_nor_database(tmp_path):
    # The environment of compose's gpu-worker: the broker and the store, nothing of the portal's.
    env = {"PATH": os.environ["PATH"], "CELERY_BROKER_URL": "redis://127.0.0.1:6379/15", "OCCIPORTAL_DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", GPU_WORKER], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_killed_child_becomes_a_resumable_error_with_its_log():
    result = JobResult(exit_code=-9, last_event={"event": "progress", "step": 3}, log_tail=["loading", '{"event": "heartbeat"}'])
    event = final_event(result, None)
    assert isinstance(event, Error) and event.resumable is True
    assert "exit code -9" in event.message and event.log_tail == ["loading"]


def test_an_oom_is_resumable_and_a_bad_spec_is_not():
    oom = Error(message="CUDA out of memory", error_type="OutOfMemoryError")
    bad = Error(message="SpecError: unknown field", error_type="SpecError")
    assert final_event(JobResult(1, oom.to_dict(), ["Traceback"]), oom).resumable is True
    assert final_event(JobResult(1, bad.to_dict(), ["Traceback"]), bad).resumable is False


def test_done_carries_the_summary_and_versions_come_from_metadata():
    done = Done(steps=4, final_loss=1.0, checkpoint="/x")
    assert final_event(JobResult(0, done.to_dict(), []), done).steps == 4
    assert "torch" in library_versions()


def test_run_job_numbers_events_and_sends_the_final_one_last(monkeypatch, tmp_path):
    from training import gpu_worker

    sent = []
    monkeypatch.setattr(gpu_worker.app, "send_task", lambda name, args, queue: sent.append((name, queue, *args)))

    def fake_child(spec, on_event, cancel_check):
        for event in (Start(kind="evaluate"), Done(steps=2), Progress(step=2)):
            on_event(event.to_dict())
        on_event({"event": "progress", "schema": 1, "step": "two"})  # refused by the contract: not forwarded
        assert not cancel_check()
        return JobResult(0, Done(steps=2).to_dict(), ["ok"])

    monkeypatch.setattr(gpu_worker, "run_in_child", fake_child)
    spec = JobSpec.from_dict({"run_id": "run-7", "kind": "evaluate", "base_model": str(tmp_path),
                              "output_dir": str(tmp_path / "out"), "eval": {"suites": [str(tmp_path)]}})  # fmt: skip
    gpu_worker.run_job(spec.to_json(), attempt=2)
    assert [(s[0], s[1], s[2], s[3]) for s in sent] == [(RECORD_EVENT_TASK, "default", "run-7", n) for n in range(3)]
    assert [s[4]["event"] for s in sent] == ["start", "progress", "done"]
    assert all(s[4]["attempt"] == 2 for s in sent) and sent[0][4]["versions"] and sent[2][4]["log_tail"] == ["ok"]
    assert all(event_from_dict(s[4]) for s in sent)  # what the portal reads


def test_an_unreadable_spec_is_refused_back_to_the_portal(monkeypatch):
    from training import gpu_worker

    sent = []
    monkeypatch.setattr(gpu_worker.app, "send_task", lambda name, args, queue: sent.append(args))
    gpu_worker.run_job('{"run_id": "run-3", "kind": "dance", "base_model": "m", "output_dir": "o"}', attempt=1)
    assert sent[0][0] == "run-3" and sent[0][2]["event"] == "error" and "kind" in sent[0][2]["message"]


# -- stop markers in the object store: a GPU host that shares no folder with the portal ---------------


class CountingStore(run_store.Store):
    """The real store (moto's), counting the objects read."""

    def __init__(self) -> None:
        super().__init__(run_store.Store.from_env().client)
        self.reads: list[str] = []

    def read_bytes(self, uri: str) -> bytes | None:
        self.reads.append(uri)
        return super().read_bytes(uri)


def test_the_store_is_asked_at_most_once_per_interval_and_a_stop_is_final(object_store, tmp_path):  # noqa: F811
    output_uri, now = f"{object_store.root}/runs/7", [0.0]
    store = CountingStore()
    should_stop = job_control.StopCheck(str(tmp_path / "out"), 1, output_uri=output_uri, store=store,
                                        interval=30, clock=lambda: now[0])  # fmt: skip

    assert not should_stop() and len(store.reads) == 2  # CANCELLED, then ATTEMPT
    job_control.mark_cancelled_in_store(store, output_uri)
    now[0] = 29.0
    assert not should_stop() and len(store.reads) == 2  # within the interval: not asked
    now[0] = 30.0
    assert should_stop() and store.reads[-1] == f"{output_uri}/control/CANCELLED"
    now[0] = 300.0
    assert should_stop() and len(store.reads) == 3


def test_an_unreachable_store_never_stops_a_job_and_the_local_markers_still_count(
    object_store, monkeypatch, tmp_path, caplog  # noqa: F811
):  # fmt: skip
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("OCCIPORTAL_S3_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    caplog.set_level(logging.WARNING, logger="training.job_control")  # whatever an earlier test left the root at
    out = tmp_path / "out"
    should_stop = job_control.StopCheck(str(out), 1, output_uri=f"{object_store.root}/runs/7", interval=0)

    assert not should_stop()
    assert "could not read the stop markers" in caplog.text and KEYS["AWS_SECRET_ACCESS_KEY"] not in caplog.text
    job_control.mark_cancelled(str(out))
    assert should_stop()


def test_an_output_uri_outside_this_hosts_bucket_is_not_read(object_store, monkeypatch, tmp_path, caplog):  # noqa: F811
    monkeypatch.setattr(run_store.Store, "from_env", classmethod(lambda cls, **options: pytest.fail("connected")))
    caplog.set_level(logging.WARNING, logger="training.job_control")
    elsewhere = "s3://someone-elses-bucket/training/runs/7"
    should_stop = job_control.StopCheck(str(tmp_path), 1, output_uri=elsewhere, interval=0)

    assert not should_stop() and not should_stop()
    assert caplog.text.count("outside the object store's bucket and prefix") == 1


def test_run_job_never_starts_a_job_the_store_says_was_cancelled(object_store, monkeypatch, tmp_path):  # noqa: F811
    from training import gpu_worker

    monkeypatch.setattr(gpu_worker.app, "send_task", lambda *args, **kwargs: pytest.fail("nothing to report"))
    monkeypatch.setattr(gpu_worker, "run_in_child", lambda *args, **kwargs: pytest.fail("the child started"))
    object_store.write("evaluations/3/control/CANCELLED", b"")
    spec = JobSpec.from_dict({"run_id": "evaluation-3", "kind": "evaluate", "base_model": str(tmp_path),
                              "output_dir": str(tmp_path / "fresh"), "output_uri": f"{object_store.root}/evaluations/3",
                              "eval": {"suites": [str(tmp_path)]}})  # fmt: skip

    gpu_worker.run_job(spec.to_json(), attempt=1)


def test_run_job_is_a_task_of_the_gpu_app_only():
    from occiportal.celery import app as portal_app
    from training.gpu_worker import app

    assert RUN_JOB_TASK in app.tasks
    assert RUN_JOB_TASK not in portal_app.tasks


@pytest.mark.worker
def test_the_gpu_worker_threads_run_tasks_through_the_gpu_app(gpu_worker_session):
    """Not the process's default app, the portal's, where ``run_job`` is unknown."""
    from celery._state import get_current_app

    from training.gpu_worker import app

    assert gpu_worker_session.pool.executor.submit(get_current_app).result(timeout=30) is app
