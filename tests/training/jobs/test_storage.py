"""Snapshots, checkpoints and models in an object store: moto's S3 server on 127.0.0.1.

A GPU host may vanish: what a job reads is fetched and checked, what it makes
is copied to the store as it goes, and an attempt on another host (a fresh
output folder, a fresh cache) resumes from what the store holds.
"""

import dataclasses
import json

import pytest

from tests.training.jobs.conftest import Recorder, make_spec
from tests.training.jobs.object_store import KEYS
from training import run_store
from training.jobs.evaluate import run_evaluation
from training.jobs.runner import run_in_child
from training.jobs.contract import EvalConfig, JobSpec
from training.jobs.train import run_training


def put_snapshot(object_store, snapshot, name="snapshots/s1"):
    folder, sha256 = snapshot
    manifest = json.loads((folder / "manifest.json").read_text())
    names = [shard["path"] for shard in manifest["shards"]] + ["manifest.json"]
    run_store.upload_folder(run_store.Store.from_env(), folder, f"{object_store.root}/{name}", names=names)
    return f"{object_store.root}/{name}", sha256


class Host(RuntimeError):
    """The GPU host going away."""


def test_a_snapshot_is_fetched_checked_and_then_reused_from_the_cache(object_store, cpt_snapshot):
    uri, sha256 = put_snapshot(object_store, cpt_snapshot)

    folder = run_store.fetch_snapshot(uri, sha256)

    assert folder == object_store.cache / "snapshots" / sha256
    for name in ("manifest.json", "de/train-00000.parquet", "pt/train-00000.parquet"):
        assert (folder / name).read_bytes() == (cpt_snapshot[0] / name).read_bytes()
    # Reused: the store is not asked again, even once the objects are gone.
    object_store.client.delete_object(Bucket=object_store.bucket, Key="training/snapshots/s1/de/train-00000.parquet")
    assert run_store.fetch_snapshot(uri, sha256) == folder


def test_a_tampered_object_is_refused_by_name(object_store, cpt_snapshot):
    uri, sha256 = put_snapshot(object_store, cpt_snapshot)
    object_store.write("snapshots/s1/pt/train-00000.parquet", b"PAR1 not the shard the manifest lists PAR1")

    with pytest.raises(run_store.StoreError, match=r"snapshot file pt/train-00000\.parquet does not match"):
        run_store.fetch_snapshot(uri, sha256)

    assert not (object_store.cache / "snapshots" / sha256).exists()
    assert not any(path.name.endswith(".partial") for path in (object_store.cache / "snapshots").iterdir())


def test_a_manifest_other_than_the_pinned_one_is_refused(object_store, cpt_snapshot):
    uri, _ = put_snapshot(object_store, cpt_snapshot)

    with pytest.raises(run_store.StoreError, match=r"manifest\.json does not match.*the spec expects " + "0" * 64):
        run_store.fetch_snapshot(uri, "0" * 64)


def test_a_folder_is_complete_only_once_its_marker_is_written_last(object_store, tmp_path):
    folder = tmp_path / "checkpoint-2"
    (folder / "sub").mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"weights" * 1000)
    (folder / "sub" / "state.pt").write_bytes(b"state")
    store, order = run_store.Store.from_env(), []
    store.upload_file = lambda path, uri, send=store.upload_file: (order.append(uri), send(path, uri))
    store.write_bytes = lambda uri, data, send=store.write_bytes: (order.append(uri), send(uri, data))

    marker = run_store.upload_folder(store, folder, f"{object_store.root}/runs/1/checkpoint-2")

    assert [uri.rsplit("/", 1)[-1] for uri in order] == ["model.safetensors", "state.pt", "COMPLETE"]
    assert marker["files"]["model.safetensors"] == {"bytes": 7000, "sha256": run_store.sha256_of(folder / "model.safetensors")}
    assert json.loads(object_store.read("runs/1/checkpoint-2/COMPLETE")) == marker


def test_checkpoints_go_to_the_store_as_they_are_saved(object_store, tiny_model, cpt_snapshot, tmp_path):
    uri, sha256 = put_snapshot(object_store, cpt_snapshot)
    spec = make_spec(tiny_model, (uri, sha256), tmp_path / "run", max_steps=3, save_every=1, keep_checkpoints=1)
    spec.output_uri = f"{object_store.root}/runs/1"
    object_store.write("runs/1/checkpoint-0/model.safetensors", b"half uploaded by a host that died")
    events = Recorder()

    done = run_training(spec, events)

    assert [e["path"] for e in events.of("checkpoint")] == [f"{spec.output_uri}/checkpoint-{n}" for n in (1, 2)]
    assert done["checkpoint"] == f"{spec.output_uri}/final"
    stored = object_store.keys("runs/1/")
    # keep_checkpoints=1; and the folder without COMPLETE that a dead host left is gone too
    assert not any(key.startswith(("runs/1/checkpoint-1/", "runs/1/checkpoint-0/")) for key in stored)
    marker = json.loads(object_store.read("runs/1/checkpoint-2/COMPLETE"))
    local = tmp_path / "run" / "checkpoint-2"
    assert {"model.safetensors", "trainer_state.pt", "job.json"} <= set(marker["files"])
    assert all(marker["files"][name]["sha256"] == run_store.sha256_of(local / name) for name in marker["files"])
    assert json.loads(object_store.read("runs/1/final/summary.json"))["steps"] == 3
    assert "runs/1/final/COMPLETE" in stored


def test_an_attempt_on_a_new_host_resumes_from_the_store_not_from_zero(object_store, tiny_model, cpt_snapshot, tmp_path, monkeypatch):
    uri, sha256 = put_snapshot(object_store, cpt_snapshot)
    spec = make_spec(tiny_model, (uri, sha256), tmp_path / "host-a" / "run", max_steps=4, save_every=2)
    spec.output_uri = f"{object_store.root}/runs/1"
    events = Recorder()

    def host_goes_away(event):
        events(event)
        if event.name == "checkpoint":
            raise Host("gone after its first checkpoint")

    with pytest.raises(Host):
        run_training(spec, host_goes_away)
    assert events.of("checkpoint")[0]["step"] == 2

    # Host B: none of host A's folders, a cache of its own; the store found through the environment alone.
    host_b = tmp_path / "host-b"
    monkeypatch.setenv("OCCIPORTAL_JOB_CACHE", str(host_b / "cache"))
    elsewhere = dataclasses.replace(spec, output_dir=str(host_b / "run"))
    resumed = Recorder()

    done = run_training(elsewhere, resumed)

    start = resumed.of("start")[0]
    assert start["start_step"] == 2 and start["resumed_from"] == str(host_b / "run" / "checkpoint-2")
    assert [e["step"] for e in resumed.of("progress")] == [3, 4] and done["steps"] == 4
    assert (host_b / "cache" / "snapshots" / sha256 / "manifest.json").is_file()
    assert KEYS["AWS_SECRET_ACCESS_KEY"] not in elsewhere.to_json()


def test_the_command_line_refuses_uris_outside_its_hosts_bucket(object_store, tiny_model, tmp_path):
    spec = make_spec(tiny_model, ("s3://someone-elses-bucket/snapshots/s1", "0" * 64), tmp_path / "run")

    result = run_in_child(spec, lambda event: None)

    assert result.exit_code == 1 and result.last_event["error_type"] == "SpecError"
    assert "snapshot_dir is outside the object store's bucket and prefix" in result.last_event["message"]
    assert f"s3://{object_store.bucket}/training" in result.last_event["message"]


def test_a_finished_run_in_the_store_is_not_trained_again_anywhere(object_store, tiny_model, cpt_snapshot, tmp_path):
    uri, sha256 = put_snapshot(object_store, cpt_snapshot)
    spec = make_spec(tiny_model, (uri, sha256), tmp_path / "host-a", max_steps=2)
    spec.output_uri = f"{object_store.root}/runs/1"
    run_training(spec, Recorder())

    again = Recorder()
    run_training(dataclasses.replace(spec, output_dir=str(tmp_path / "host-b")), again)

    assert [e["event"] for e in again] == ["done"] and again[0]["already_done"] is True
    assert again[0]["checkpoint"] == f"{spec.output_uri}/final"


def test_an_evaluation_loads_a_model_from_the_store_weights_and_tokenizer_only(object_store, tiny_model, tmp_path):
    model = tmp_path / "final"
    model.mkdir()
    for path in tiny_model.iterdir():
        (model / path.name).write_bytes(path.read_bytes())
    (model / "modeling_evil.py").write_text("raise SystemExit('remote code ran')\n")
    (model / "pytorch_model.bin").write_bytes(b"a pickle is a program")
    run_store.upload_folder(run_store.Store.from_env(), model, f"{object_store.root}/runs/1/final")
    suite = tmp_path / "suites" / "mini"
    suite.mkdir(parents=True)
    (suite / "de.jsonl").write_text(json.dumps({"text": "Die Katze sitzt auf der Matte."}) + "\n")
    spec = JobSpec(
        run_id="eval-1", kind="evaluate", base_model=f"{object_store.root}/runs/1/final", output_dir=str(tmp_path / "out"),
        output_uri=f"{object_store.root}/evaluations/1", eval=EvalConfig(suites=[str(suite)]),
    )  # fmt: skip

    done = run_evaluation(spec, Recorder())

    assert done["scores"]["de"]["mini"]["word_perplexity"] > 1
    (fetched,) = (object_store.cache / "models").iterdir()
    names = {path.name for path in fetched.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= names
    assert not names & {"modeling_evil.py", "pytorch_model.bin"}
    assert json.loads(object_store.read("evaluations/1/results.json"))["model_name"] == spec.base_model


def test_a_model_without_its_marker_is_refused(object_store, tmp_path):
    object_store.write("runs/1/final/config.json", b"{}")
    with pytest.raises(run_store.StoreError, match="no complete model at .*runs/1/final"):
        run_store.fetch_model(f"{object_store.root}/runs/1/final", ["*.json"])
