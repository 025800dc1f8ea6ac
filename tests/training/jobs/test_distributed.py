"""Two ranks under torchrun (gloo on the CPU) train as one process on the same global batch, and resume.

Both ways of spreading a full fine-tune: replicas (``sharding: "none"``) and FSDP.
"""

import dataclasses

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from tests.training.jobs.conftest import Recorder, make_spec
from training.jobs.contract import Resources
from training.jobs.runner import run_in_child
from training.jobs.train import SHARDS, load_trainer_state, run_training

STEPS = 40  # long enough that the kill at the first checkpoint lands well before the end
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


def progress_losses(events) -> dict[int, float]:
    return {e["step"]: e["loss"] for e in events if e["event"] == "progress"}


def assert_close(losses: dict, expected: dict) -> None:
    assert all(abs(losses[step] - expected[step]) < 1e-4 * expected[step] for step in losses), (losses, expected)


@pytest.mark.parametrize("sharding", ["none", "fsdp"])
def test_two_ranks_killed_and_resumed_match_one_process_on_the_same_global_batch(
    tiny_model, cpt_snapshot, tmp_path, sharding
):
    one = make_spec(tiny_model, cpt_snapshot, tmp_path / "one", max_steps=STEPS, batch_size=4, save_every=3)
    alone = Recorder()
    run_training(one, alone)

    two = dataclasses.replace(
        make_spec(tiny_model, cpt_snapshot, tmp_path / "two", max_steps=STEPS, batch_size=2, save_every=3,
                  sharding=sharding),
        resources=Resources(gpus_per_node=2),
    )  # fmt: skip
    seen = []
    first = run_in_child(two, seen.append, cancel_check=lambda: any(e["event"] == "checkpoint" for e in seen),
                         env=ONE_THREAD)  # fmt: skip
    assert first.cancelled and not any(e["event"] == "done" for e in seen), first.log_tail[-20:]
    saved = max(e["step"] for e in seen if e["event"] == "checkpoint")
    assert (tmp_path / "two" / f"checkpoint-{saved}" / SHARDS).is_dir() == (sharding == "fsdp")
    resumed = []
    second = run_in_child(two, resumed.append, env=ONE_THREAD)

    assert second.ok, second.log_tail[-30:]
    start = next(e for e in resumed if e["event"] == "start")
    assert start["start_step"] == saved and start["resumed_from"].endswith(f"checkpoint-{saved}")
    assert [e["event"] for e in seen + resumed].count("start") == 2  # rank 0 alone speaks
    losses = progress_losses(seen + resumed)
    assert sorted(losses) == list(range(1, STEPS + 1))
    assert_close(losses, progress_losses(alone))

    final_one = load_file(tmp_path / "one" / "final" / "model.safetensors")
    final_two = load_file(tmp_path / "two" / "final" / "model.safetensors")
    assert final_one.keys() == final_two.keys()
    assert all(torch.allclose(final_one[name], final_two[name], atol=1e-4) for name in final_one)
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "two" / "final").num_parameters() == sum(
        tensor.numel() for tensor in final_one.values()
    )


def test_one_process_resumes_a_two_rank_fsdp_checkpoint(tiny_model, cpt_snapshot, tmp_path):
    alone = Recorder()
    run_training(make_spec(tiny_model, cpt_snapshot, tmp_path / "one", max_steps=8, batch_size=4), alone)
    two = dataclasses.replace(
        make_spec(tiny_model, cpt_snapshot, tmp_path / "run", max_steps=8, batch_size=2, save_every=3),
        resources=Resources(gpus_per_node=2),
    )
    seen = []
    first = run_in_child(two, seen.append, cancel_check=lambda: any(e["event"] == "checkpoint" for e in seen),
                         env=ONE_THREAD)  # fmt: skip
    assert first.cancelled, first.log_tail[-20:]
    saved = max(e["step"] for e in seen if e["event"] == "checkpoint")
    assert len(list((tmp_path / "run" / f"checkpoint-{saved}" / SHARDS).glob("*.distcp"))) == 2  # one per rank

    resumed = Recorder()
    run_training(dataclasses.replace(two, train=dataclasses.replace(two.train, batch_size=4),
                                     resources=Resources()), resumed)  # fmt: skip

    assert resumed.of("start")[0]["start_step"] == saved
    losses = progress_losses(resumed)
    assert sorted(losses) == list(range(saved + 1, 9))
    assert_close(losses, progress_losses(alone))
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "final") is not None


def test_a_sharded_run_refuses_a_replica_checkpoint_naming_the_setting_that_resumes_it(
    tiny_model, cpt_snapshot, tmp_path
):
    run_training(make_spec(tiny_model, cpt_snapshot, tmp_path / "run", max_steps=3, save_every=2), Recorder())
    with pytest.raises(ValueError, match='checkpoint-2 holds one replica, not shards: .* train.sharding "none"'):
        load_trainer_state(tmp_path / "run" / "checkpoint-2", None, None, None, fsdp=True)


@pytest.mark.parametrize("sharding", ["none", "fsdp"])
def test_a_dpo_run_on_two_ranks_matches_one_process_reference_and_rewards_included(
    tiny_model, dpo_snapshot, tmp_path, sharding
):
    fields = {"method": "dpo", "max_steps": 6, "learning_rate": 3e-3}
    alone = Recorder()
    run_training(make_spec(tiny_model, dpo_snapshot, tmp_path / "one", batch_size=4, **fields), alone)
    two = dataclasses.replace(
        make_spec(tiny_model, dpo_snapshot, tmp_path / "two", batch_size=2, sharding=sharding, **fields),
        resources=Resources(gpus_per_node=2),
    )  # fmt: skip
    seen = []

    result = run_in_child(two, seen.append, env=ONE_THREAD)

    assert result.ok, result.log_tail[-30:]
    ranked = [e for e in seen if e["event"] == "progress"]
    single = alone.of("progress")
    assert [e["step"] for e in ranked] == [e["step"] for e in single] == list(range(1, 7))
    for figure in ("loss", "reward_accuracy", "reward_margin", "chosen_reward", "rejected_reward"):
        assert [e[figure] for e in ranked] == pytest.approx([e[figure] for e in single], abs=1e-4), figure
