"""Runs with the object store on: specs name s3:// URIs inside the bucket, snapshots are uploaded once, checked,
and the stop markers (cancelled, a newer attempt) reach a GPU host that shares no folder with the portal.

The store is moto's S3 server on 127.0.0.1 (tests/training/jobs/object_store.py).
"""

import json
import logging
from io import StringIO
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from tests.training.jobs.object_store import KEYS, object_store, s3_endpoint  # noqa: F401 - fixtures
from training import job_control, run_store
from training.models import EvaluationRun, EvaluationSuite, TrainingRun
from training.services import storage as portal_storage
from training.services.run_events import runs_sweep
from training.services.runs import evaluation_run_create, job_cancel

from .run_helpers import make_run, make_snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def store_on(object_store, settings):  # noqa: F811 - the fixture imported above
    settings.TRAINING_STORE = {
        "BUCKET": object_store.bucket, "PREFIX": "training", "ENDPOINT_URL": object_store.endpoint,
        "REGION": "us-east-1", "ACCESS_KEY_ID": KEYS["AWS_ACCESS_KEY_ID"], "SECRET_ACCESS_KEY": KEYS["AWS_SECRET_ACCESS_KEY"],
    }  # fmt: skip
    return object_store


@pytest.fixture
def suite(settings, tmp_path):
    folder = tmp_path / "suites" / "mini"
    folder.mkdir(parents=True)
    (folder / "de.jsonl").write_text(json.dumps({"text": "Die Katze schläft."}) + "\n")
    settings.TRAINING = {**settings.TRAINING, "STORAGE_ROOTS": [str(tmp_path)]}
    return EvaluationSuite.objects.create(name="mini", path=str(folder))


def test_without_a_bucket_specs_name_local_folders_as_before(staff):
    run = make_run(user=staff)
    spec = run.manifest["job_spec"]
    assert spec["snapshot_dir"] == run.snapshot.uri and spec["output_uri"] is None


def test_a_run_reads_its_snapshot_from_the_store_where_it_was_put_once(staff, store_on, monkeypatch, tmp_path):
    snapshot = make_snapshot()

    run = make_run(user=staff, snapshot=snapshot)

    spec = run.manifest["job_spec"]
    sha12 = snapshot.manifest_sha256[:12]
    assert spec["snapshot_dir"] == f"{store_on.root}/snapshots/corpus/1-{sha12}"
    assert spec["output_uri"] == f"{store_on.root}/runs/{run.pk}" and spec["output_dir"] == run.output_dir
    stored = store_on.keys(f"snapshots/corpus/1-{sha12}/")
    assert set(stored) == {f"snapshots/corpus/1-{sha12}/{name}" for name in (
        "manifest.json", "COMPLETE", "de/train-00000.parquet", "de/test-00000.parquet",
        "fr/train-00000.parquet", "fr/test-00000.parquet")}  # fmt: skip
    assert not {KEYS["AWS_ACCESS_KEY_ID"], KEYS["AWS_SECRET_ACCESS_KEY"]} & set(json.dumps(spec).split('"'))
    # What the portal put there is what a job fetches and checks.
    fetched = run_store.fetch_snapshot(spec["snapshot_dir"], spec["snapshot_sha256"], cache=tmp_path / "gpu-host")
    assert (fetched / "fr" / "train-00000.parquet").read_bytes() == (Path(snapshot.uri) / "fr" / "train-00000.parquet").read_bytes()

    # A second run, and the sweeper's retries, find it there: nothing is sent again.
    sent = []
    monkeypatch.setattr(run_store, "upload_folder", lambda *args, **kwargs: sent.append(args))
    make_run(user=staff, snapshot=snapshot)
    assert sent == []


def test_the_build_task_uploads_a_ready_snapshot_so_starting_a_run_sends_nothing(staff, store_on, monkeypatch):
    from training.tasks import snapshot_build

    snapshot = make_snapshot()
    snapshot_build(snapshot.pk)  # already built: the build returns at once, the upload follows

    assert f"snapshots/corpus/1-{snapshot.manifest_sha256[:12]}/COMPLETE" in store_on.keys("snapshots/")
    sent = []
    monkeypatch.setattr(run_store, "upload_folder", lambda *args, **kwargs: sent.append(args))
    make_run(user=staff, snapshot=snapshot)
    assert sent == []


def test_a_shard_that_changed_on_disk_is_not_uploaded_and_no_run_starts(staff, store_on):
    snapshot = make_snapshot()
    with open(f"{snapshot.uri}/de/train-00000.parquet", "ab") as shard:
        shard.write(b"rot")

    with pytest.raises(ValidationError, match=r"de/train-00000\.parquet does not match"):
        make_run(user=staff, snapshot=snapshot)

    assert not any(key.endswith("COMPLETE") for key in store_on.keys())
    assert not TrainingRun.objects.exists()


def test_a_checkpoint_in_the_bucket_is_evaluated_from_there(staff, store_on, suite):
    model = f"{store_on.root}/runs/1/final"

    evaluation = evaluation_run_create(created_by=staff, model_path=model, suites=[suite])

    spec = evaluation.manifest["job_spec"]
    assert spec["base_model"] == model and spec["output_uri"] == f"{store_on.root}/evaluations/{evaluation.pk}"


def test_the_evaluate_command_takes_a_checkpoint_in_the_bucket_and_refuses_one_outside(store_on, suite):
    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("evaluate", "--model", f"{store_on.root}/runs/1/final", "--suite", "mini", stdout=out)
    assert EvaluationRun.objects.get().model_path == f"{store_on.root}/runs/1/final"
    with pytest.raises(CommandError, match="bucket and prefix"):
        call_command("evaluate", "--model", "s3://someone-elses-bucket/training/runs/1/final", "--suite", "mini")


def test_results_left_in_the_store_by_a_gpu_host_are_served_from_there(client, staff, store_on, suite):
    from django.urls import reverse

    evaluation = evaluation_run_create(created_by=staff, model_path=f"{store_on.root}/runs/1/final", suites=[suite])
    results = f"{store_on.root}/evaluations/{evaluation.pk}/results.json"
    portal_storage.store_connect().write_bytes(results, b'{"results": {"mini": {}}}')
    EvaluationRun.objects.filter(pk=evaluation.pk).update(manifest={
        **evaluation.manifest, "results_path": "/gpu-host/only/results.json", "results_uri": results})
    client.force_login(staff)

    answer = client.get(reverse("evaluation_results", args=[evaluation.pk]))
    assert answer.status_code == 200 and json.loads(answer.content) == {"results": {"mini": {}}}

    EvaluationRun.objects.filter(pk=evaluation.pk).update(manifest={
        **evaluation.manifest, "results_uri": "s3://someone-elses-bucket/results.json"})
    assert client.get(reverse("evaluation_results", args=[evaluation.pk])).status_code == 404


@pytest.mark.parametrize("where", [
    "s3://someone-elses-bucket/training/runs/1/final",
    "s3://{bucket}/not-training/runs/1/final",
    "s3://{bucket}/training-and-more/runs/1/final",
    "s3://{bucket}/training/../elsewhere/final",
    "s3://{bucket}/training//runs/1/final",
])  # fmt: skip
def test_a_uri_outside_the_bucket_and_prefix_is_refused(staff, store_on, suite, where):
    with pytest.raises(ValidationError, match="object store's bucket and prefix|not a plain s3://bucket/key URI"):
        evaluation_run_create(created_by=staff, model_path=where.format(bucket=store_on.bucket), suites=[suite])
    assert not EvaluationRun.objects.exists()


def test_without_a_bucket_no_uri_is_allowed(staff, suite):
    with pytest.raises(ValidationError, match="no object store is configured"):
        evaluation_run_create(created_by=staff, model_path="s3://occiportal/training/runs/1/final", suites=[suite])


def test_the_store_location_follows_the_output_folder(settings, store_on):
    assert portal_storage.job_output_uri(f"{settings.DATA_DIR}/runs/7-ab12cd34") == f"{store_on.root}/runs/7-ab12cd34"
    assert portal_storage.job_output_uri("/srv/elsewhere/evaluations/3") == f"{store_on.root}/evaluations/3"


# -- stop markers: cancel and newer attempts reach a GPU host that shares no folder -------------------


@pytest.fixture
def no_broker(monkeypatch):
    from occiportal import broker
    from training.services import runs

    for module in (broker, runs):  # the job is sent through the one, markers retried through the other
        monkeypatch.setattr(module, "current_app", SimpleNamespace(send_task=lambda *args, **kwargs: None))


def worker_on_another_host(tmp_path, run, attempt: int) -> job_control.StopCheck:
    """The GPU worker's check, from a fresh output folder the portal never wrote to, reading the store each call."""
    spec = run.manifest["job_spec"]
    return job_control.StopCheck(str(tmp_path / "gpu-host" / "runs" / str(run.pk)), attempt,
                                 output_uri=spec["output_uri"], interval=0)  # fmt: skip


def test_a_cancel_reaches_a_worker_that_shares_no_folder_through_the_store(
    staff, store_on, no_broker, tmp_path, django_capture_on_commit_callbacks
):  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        run = make_run(user=staff)
    should_stop = worker_on_another_host(tmp_path, run, 1)
    assert store_on.read(f"runs/{run.pk}/control/ATTEMPT") == b"1"
    assert not should_stop()

    with django_capture_on_commit_callbacks(execute=True):
        assert job_cancel(user=staff, job=run)

    assert f"runs/{run.pk}/control/CANCELLED" in store_on.keys(f"runs/{run.pk}/")
    assert should_stop()
    assert job_control.should_stop(run.output_dir, 1)  # and the portal's own folder, as before


def test_a_newer_attempt_in_the_store_supersedes_the_old_one(
    staff, store_on, no_broker, tmp_path, django_capture_on_commit_callbacks
):  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        run = make_run(user=staff)
    TrainingRun.objects.filter(pk=run.pk).update(lease_until=timezone.now() - timedelta(seconds=1))

    with django_capture_on_commit_callbacks(execute=True):
        assert runs_sweep() == 1  # the lease ran out: dispatched again as attempt 2
    run.refresh_from_db()

    assert run.attempt == 2 and store_on.read(f"runs/{run.pk}/control/ATTEMPT") == b"2"
    assert worker_on_another_host(tmp_path, run, 1)() and not worker_on_another_host(tmp_path, run, 2)()


def test_a_cancel_the_store_did_not_take_is_written_by_a_retried_task_once_it_is_back(
    staff, store_on, monkeypatch, caplog, tmp_path, django_capture_on_commit_callbacks
):  # fmt: skip
    from occiportal import broker
    from training.services import runs

    sent = []
    for module in (broker, runs):
        monkeypatch.setattr(module, "current_app", SimpleNamespace(send_task=lambda name, **kwargs: sent.append((name, kwargs))))
    with django_capture_on_commit_callbacks(execute=True):
        run = make_run(user=staff)
    away = run_store.Store.connect(
        endpoint_url="http://127.0.0.1:1", access_key_id=KEYS["AWS_ACCESS_KEY_ID"],
        secret_access_key=KEYS["AWS_SECRET_ACCESS_KEY"], max_attempts=1,
    )  # fmt: skip
    reachable = runs.store_connect
    monkeypatch.setattr(runs, "store_connect", lambda: away)
    caplog.set_level(logging.WARNING, logger="training.services.runs")  # whatever an earlier test left the root at

    with django_capture_on_commit_callbacks(execute=True):
        assert job_cancel(user=staff, job=run)

    run.refresh_from_db()
    assert run.status == TrainingRun.Status.CANCELLED and job_control.should_stop(run.output_dir, 1)
    assert "stop marker could not be written" in caplog.text
    assert KEYS["AWS_ACCESS_KEY_ID"] not in caplog.text and KEYS["AWS_SECRET_ACCESS_KEY"] not in caplog.text
    assert sent[-1] == (runs.WRITE_MARKERS, {"args": [run.job_id], "countdown": 30})
    should_stop = worker_on_another_host(tmp_path, run, 1)
    assert not should_stop()  # the GPU host has not heard yet

    with pytest.raises(run_store.StoreUnavailable):
        runs.job_markers_write(job_id=run.job_id)  # still away: the task retries later
    monkeypatch.setattr(runs, "store_connect", reachable)
    runs.job_markers_write(job_id=run.job_id)

    assert should_stop()
    assert store_on.read(f"runs/{run.pk}/control/ATTEMPT") == b"1"
