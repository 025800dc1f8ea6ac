"""A job pins the model it loads: a local folder by the hash of its files, a hub id by its commit."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.training.jobs.conftest import Recorder, make_spec
from training.jobs.evaluate import run_evaluation
from training.jobs.contract import local_model_revision
from training.jobs.revision import RevisionMismatch, hub_revision, resolve_revision
from training.jobs.contract import EvalConfig, JobSpec
from training.jobs.train import run_training


@pytest.fixture
def model_copy(tiny_model, tmp_path):
    """A copy of the session's tiny model, whose weights a test may change."""
    return shutil.copytree(tiny_model, tmp_path / "model")


def test_a_local_models_revision_is_the_hash_of_its_files_and_changes_with_the_weights(model_copy):
    revision = local_model_revision(model_copy)
    assert revision.startswith("sha256:") and len(revision) == 71
    assert local_model_revision(model_copy) == revision
    (model_copy / "README.md").write_text("notes do not change the model")
    assert local_model_revision(model_copy) == revision

    weights = load_file(model_copy / "model.safetensors")
    weights["model.norm.weight"] = weights["model.norm.weight"] + 1e-3
    save_file(weights, model_copy / "model.safetensors", metadata={"format": "pt"})

    assert local_model_revision(model_copy) != revision
    with pytest.raises(RevisionMismatch, match="changed since it was pinned"):
        resolve_revision(str(model_copy), revision)


def test_a_folder_without_weights_has_no_revision(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError):
        local_model_revision(tmp_path)


def test_a_hub_id_resolves_to_the_commit_its_tag_names_and_is_loaded_at_it(monkeypatch, tmp_path):
    commit = "0123456789abcdef0123456789abcdef01234567"
    asked = []

    def hf_hub_download(repo_id, filename, revision=None):
        asked.append((repo_id, filename, revision))
        return str(tmp_path / "hub" / "models--org--name" / "snapshots" / commit / filename)

    monkeypatch.setattr("huggingface_hub.hf_hub_download", hf_hub_download)
    assert resolve_revision("org/name", "v1.0") == commit and asked == [("org/name", "config.json", "v1.0")]
    assert resolve_revision("org/name") == commit and asked[-1][2] is None
    assert hub_revision("org/name", commit) == {"revision": commit}
    assert hub_revision(str(tmp_path), "sha256:abc") == {}  # a folder is loaded as it is


def test_training_pins_the_revision_in_its_start_event_and_checkpoints(model_copy, cpt_snapshot, tmp_path):
    spec = make_spec(model_copy, cpt_snapshot, tmp_path / "run", max_steps=2, save_every=1)
    events = Recorder()

    run_training(spec, events)

    revision = local_model_revision(model_copy)
    assert events.of("start")[0]["base_model_revision"] == revision
    saved = json.loads((tmp_path / "run" / "final" / "job.json").read_text())
    assert saved["base_model_revision"] == revision
    assert revision in (tmp_path / "run" / "final" / "README.md").read_text()
    assert json.loads((tmp_path / "run" / "checkpoint-1" / "job.json").read_text())["base_model_revision"] == revision


def test_a_run_pinned_to_other_weights_refuses_to_start(model_copy, cpt_snapshot, tmp_path):
    pinned = local_model_revision(model_copy)
    weights = load_file(model_copy / "model.safetensors")
    save_file({k: torch.zeros_like(v) for k, v in weights.items()}, model_copy / "model.safetensors")
    spec = make_spec(model_copy, cpt_snapshot, tmp_path / "run", max_steps=2)
    spec.base_model_revision = pinned
    events = Recorder()

    with pytest.raises(RevisionMismatch):
        run_training(spec, events)
    assert not events.of("start")


def test_evaluation_records_the_revision_it_loaded(tiny_model, tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "de.jsonl").write_text(json.dumps({"question": "Die Katze", "choices": ["sitzt", "fliegt"], "answer": 0}) + "\n")
    spec = JobSpec(run_id="eval-1", kind="evaluate", base_model=str(tiny_model), output_dir=str(tmp_path / "out"),
                   eval=EvalConfig(suites=[str(suite)]))  # fmt: skip
    events = Recorder()

    run_evaluation(spec, events)

    revision = local_model_revision(tiny_model)
    assert events.of("start")[0]["base_model_revision"] == revision
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["model_revision"] == revision and f"revision={revision}" in results["config"]["model_args"]


def test_a_resumed_run_loads_the_model_its_checkpoints_were_trained_from(model_copy, cpt_snapshot, tmp_path):
    spec = make_spec(model_copy, cpt_snapshot, tmp_path / "run", max_steps=2, save_every=1)
    run_training(spec, Recorder())
    shutil.rmtree(tmp_path / "run" / "final")  # as if killed before the end
    weights = load_file(model_copy / "model.safetensors")
    save_file({k: v * 2 for k, v in weights.items()}, model_copy / "model.safetensors")

    with pytest.raises(RevisionMismatch):
        run_training(spec, Recorder())  # the spec pins nothing; checkpoint-1 does
