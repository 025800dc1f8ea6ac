"""The job contract: specs and events round-trip, carry their schema version, and refuse what they do not know."""

import json

import pytest

from training.jobs.contract import (
    EVENTS, SCHEMA_VERSION, Checkpoint, Done, Error, EventError, EvalConfig, Heartbeat, JobSpec, Progress, Resources,
    SpecError, Start, TrainConfig, event_from_dict, sharded,
)  # fmt: skip


def a_spec(tmp_path, **changes) -> JobSpec:
    return JobSpec(run_id="run-1", kind="train", base_model=str(tmp_path / "base"), output_dir=str(tmp_path / "out"),
                   snapshot_dir=str(tmp_path / "snapshot"), **changes)  # fmt: skip


def test_the_spec_round_trips_with_its_resources_and_schema(tmp_path):
    spec = a_spec(tmp_path, resources=Resources(gpus_per_node=8, nodes=2), train=TrainConfig(max_steps=3),
                  eval=EvalConfig(suites=["/s"]))  # fmt: skip
    data = json.loads(spec.to_json())
    assert data["schema"] == SCHEMA_VERSION and data["resources"] == {"gpus_per_node": 8, "nodes": 2}
    assert JobSpec.from_json(spec.to_json()) == spec


def test_a_spec_stored_before_the_schema_reads_as_version_one_on_one_gpu(tmp_path):
    data = a_spec(tmp_path).to_dict()
    del data["schema"], data["resources"]
    spec = JobSpec.from_dict(data)
    assert spec.schema == SCHEMA_VERSION and spec.resources == Resources(gpus_per_node=1, nodes=1)


@pytest.mark.parametrize("changes, message", [
    ({"schema": SCHEMA_VERSION + 1}, "spec schema"),
    ({"resources": {"gpus_per_node": 0}}, "gpus_per_node"),
    ({"resources": {"gpus": 8}}, "unknown Resources fields: gpus"),
])  # fmt: skip
def test_a_spec_of_another_version_or_with_bad_resources_is_refused(tmp_path, changes, message):
    with pytest.raises(SpecError, match=message):
        JobSpec.from_dict({**a_spec(tmp_path).to_dict(), **changes})


@pytest.mark.parametrize("event", [
    Start(kind="train", total_steps=4, versions={"torch": "2.9"}), Progress(step=2, loss=1.5), Heartbeat(),
    Checkpoint(step=2, path="/out/checkpoint-2"), Done(scores={"de": {"mc": {"acc": 0.5, "n": 4}}}, log_tail=["ok"]),
    Error(message="boom", error_type="OutOfMemoryError", resumable=True, attempt=2),
], ids=lambda event: event.name)  # fmt: skip
def test_every_event_round_trips_through_json(event):
    data = json.loads(json.dumps(event.to_dict()))
    assert data["event"] == event.name and data["schema"] == SCHEMA_VERSION
    assert event_from_dict(data) == event


def test_every_event_kind_is_known_by_its_name():
    assert set(EVENTS) == {"start", "progress", "checkpoint", "heartbeat", "done", "error"}


@pytest.mark.parametrize("data, message", [
    ({"event": "start", "schema": SCHEMA_VERSION + 1, "kind": "train"}, "event schema"),
    ({"event": "start", "kind": "train"}, "event schema"),
    ({"event": "metrics", "schema": SCHEMA_VERSION}, "unknown event kind"),
    ({"event": "progress", "schema": SCHEMA_VERSION, "loss": "low"}, "loss must be"),
    ({"event": "done", "schema": SCHEMA_VERSION, "log_tail": "one line"}, "log_tail must be"),
    ({"event": "error", "schema": SCHEMA_VERSION}, "message"),
    (["event", "start"], "JSON object"),
])  # fmt: skip
def test_an_event_the_contract_does_not_know_is_refused(data, message):
    with pytest.raises(EventError, match=message):
        event_from_dict(data)


def test_a_full_fine_tune_is_sharded_on_several_gpus_unless_told_not_and_lora_never():
    assert sharded("auto", finetuning="full", gpus=8) and sharded("fsdp", finetuning="full", gpus=2)
    assert not sharded("none", finetuning="full", gpus=8)
    assert not sharded("auto", finetuning="full", gpus=1) and not sharded("fsdp", finetuning="lora", gpus=8)
