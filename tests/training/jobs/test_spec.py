import os

import pytest

from training.jobs.contract import EvalConfig, JobSpec, SpecError, TrainConfig, validate_paths


def spec_in(root, **changes):
    fields = {
        "run_id": "r1",
        "kind": "train",
        "base_model": str(root / "models" / "base"),
        "output_dir": str(root / "runs" / "r1"),
        "snapshot_dir": str(root / "snapshots" / "s1"),
        **changes,
    }
    return JobSpec(**fields)


def test_json_round_trip_keeps_hyper_parameters(tmp_path):
    spec = spec_in(tmp_path, method="sft", finetuning="lora", partners=["Alpha"], train=TrainConfig(lora_r=4),
                   base_model_revision="sha256:" + "0" * 64)  # fmt: skip
    again = JobSpec.from_json(spec.to_json())
    assert again == spec
    assert again.train.lora_r == 4 and again.train.adam_betas == (0.9, 0.95)
    assert again.base_model_revision == "sha256:" + "0" * 64
    assert again.train.torch_compile == "auto" and again.train.loss_chunk_tokens == 4096


@pytest.mark.parametrize("train,message", [
    ({"seq_len": "../../etc"}, "seq_len must be int; got '../../etc'"),
    ({"max_steps": 4.5}, "max_steps must be int | None; got 4.5"),
    ({"learning_rate": True}, "learning_rate must be float; got True"),
    ({"adam_betas": [0.9]}, "adam_betas must be tuple[float, float]; got [0.9]"),
    ({"lora_target_modules": ["q_proj", 1]}, "lora_target_modules must be list[str]"),
])  # fmt: skip
def test_a_hyper_parameter_of_the_wrong_type_is_a_spec_error_naming_it(tmp_path, train, message):
    with pytest.raises(SpecError) as raised:
        JobSpec.from_dict({**spec_in(tmp_path).to_dict(), "train": train})
    assert str(raised.value).startswith(message)


def test_json_numbers_fit_the_typed_fields(tmp_path):
    spec = JobSpec.from_dict({**spec_in(tmp_path).to_dict(), "train": {"epochs": 2, "max_steps": None, "bf16": "auto"}})
    assert spec.train.epochs == 2 and spec.train.max_steps is None


def test_unknown_fields_and_bad_choices_are_rejected(tmp_path):
    data = spec_in(tmp_path).to_dict()
    with pytest.raises(SpecError, match="learning_rat"):
        JobSpec.from_dict({**data, "train": {"learning_rat": 1e-4}})
    with pytest.raises(SpecError, match="method"):
        JobSpec.from_dict({**data, "method": "rlhf"})
    with pytest.raises(SpecError, match="snapshot_dir"):
        JobSpec.from_dict({**data, "snapshot_dir": None})
    with pytest.raises(SpecError, match="not JSON"):
        JobSpec.from_json("{")
    with pytest.raises(SpecError, match="torch_compile"):
        JobSpec.from_dict({**data, "train": {"torch_compile": "yes"}})
    with pytest.raises(SpecError, match="loss_chunk_tokens"):
        JobSpec.from_dict({**data, "train": {"loss_chunk_tokens": -1}})


def test_paths_inside_the_roots_pass(tmp_path):
    validate_paths(spec_in(tmp_path), [tmp_path])
    validate_paths(spec_in(tmp_path, base_model="mistralai/Mistral-7B-v0.1"), [tmp_path])


def test_dot_dot_is_rejected_even_when_it_resolves_inside(tmp_path):
    sneaky = str(tmp_path / "runs" / ".." / "runs" / "r1")
    with pytest.raises(SpecError, match=r"\.\."):
        validate_paths(spec_in(tmp_path, output_dir=sneaky), [tmp_path])
    with pytest.raises(SpecError, match=r"\.\."):
        validate_paths(spec_in(tmp_path, base_model="../models/base"), [tmp_path])


@pytest.mark.parametrize("field", ["output_dir", "snapshot_dir", "base_model"])
def test_paths_outside_the_roots_are_rejected(tmp_path, field):
    with pytest.raises(SpecError, match="outside"):
        validate_paths(spec_in(tmp_path, **{field: "/etc/occiportal"}), [tmp_path])


def test_a_symlink_out_of_the_root_is_rejected(tmp_path):
    root = tmp_path / "storage"
    root.mkdir()
    os.symlink(tmp_path.parent, root / "escape")
    with pytest.raises(SpecError, match="outside"):
        validate_paths(spec_in(root, output_dir=str(root / "escape" / "r1")), [root])


def test_evaluation_suites_are_confined_too(tmp_path):
    spec = spec_in(tmp_path, kind="evaluate", snapshot_dir=None, eval=EvalConfig(suites=["/srv/elsewhere"]))
    with pytest.raises(SpecError, match=r"eval\.suites\[0\]"):
        validate_paths(spec, [tmp_path])


ROOT = "s3://occiportal/training"


def test_object_store_uris_inside_the_bucket_and_prefix_pass(tmp_path):
    spec = spec_in(tmp_path, snapshot_dir=f"{ROOT}/snapshots/corpus/1-abc", snapshot_sha256="0" * 64,
                   output_uri=f"{ROOT}/runs/1")  # fmt: skip
    validate_paths(spec, [tmp_path], [ROOT])
    evaluation = spec_in(tmp_path, kind="evaluate", snapshot_dir=None, base_model=f"{ROOT}/runs/1/final",
                         eval=EvalConfig(suites=[str(tmp_path / "suites" / "mini")]))  # fmt: skip
    validate_paths(evaluation, [tmp_path], [ROOT])


@pytest.mark.parametrize("uri", [
    "s3://elsewhere/training/runs/1", "s3://occiportal/other/runs/1", "s3://occiportal/trainingx/runs/1",
    "s3://occiportal", "s3://occiportal/training/../other", "s3://occiportal/training/./runs", "s3://occiportal//training",
])  # fmt: skip
def test_object_store_uris_elsewhere_are_refused(tmp_path, uri):
    with pytest.raises(SpecError, match="output_uri"):
        validate_paths(spec_in(tmp_path, output_uri=uri), [tmp_path], [ROOT])


def test_without_a_store_no_uri_passes(tmp_path):
    spec = spec_in(tmp_path, output_uri=f"{ROOT}/runs/1")
    with pytest.raises(SpecError, match="no object store is configured"):
        validate_paths(spec, [tmp_path])


def test_a_snapshot_in_the_store_is_pinned_and_outputs_are_named_plainly(tmp_path):
    with pytest.raises(SpecError, match="needs snapshot_sha256"):
        spec_in(tmp_path, snapshot_dir=f"{ROOT}/snapshots/s1")
    with pytest.raises(SpecError, match="output_uri must be an s3:// URI"):
        spec_in(tmp_path, output_uri=str(tmp_path / "mirror"))
    with pytest.raises(SpecError, match="output_dir is the job's local folder"):
        spec_in(tmp_path, output_dir=f"{ROOT}/runs/1")


@pytest.mark.parametrize("train", [
    {"batch_size": 0}, {"grad_accum": 0}, {"seq_len": 0}, {"save_every": 0}, {"log_every": 0},
    {"heartbeat_seconds": 0},
])  # fmt: skip
def test_counts_the_loop_divides_by_or_steps_with_must_be_positive(tmp_path, train):
    """Else the job loads a 7B model and then divides by zero, floods heartbeats, or (grad_accum 0) trains nothing."""
    name = next(iter(train))
    with pytest.raises(SpecError, match=f"train.{name} must be more than 0"):
        JobSpec.from_dict({**spec_in(tmp_path).to_dict(), "train": train})
