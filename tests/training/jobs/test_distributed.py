"""Two ranks under torchrun (gloo on the CPU) train as one process on the same global batch, and resume."""

import dataclasses

import torch
from safetensors.torch import load_file

from tests.training.jobs.conftest import Recorder, make_spec
from training.jobs.runner import run_in_child
from training.jobs.contract import Resources
from training.jobs.train import run_training

STEPS = 40  # long enough that the kill at the first checkpoint lands well before the end


def test_two_ranks_killed_and_resumed_match_one_process_on_the_same_global_batch(tiny_model, cpt_snapshot, tmp_path):
    one = make_spec(tiny_model, cpt_snapshot, tmp_path / "one", max_steps=STEPS, batch_size=4, save_every=3)
    alone = Recorder()
    run_training(one, alone)

    two = dataclasses.replace(
        make_spec(tiny_model, cpt_snapshot, tmp_path / "two", max_steps=STEPS, batch_size=2, save_every=3),
        resources=Resources(gpus_per_node=2),
    )
    seen = []
    first = run_in_child(two, seen.append, cancel_check=lambda: any(e["event"] == "checkpoint" for e in seen),
                         env={"OMP_NUM_THREADS": "1"})  # fmt: skip
    assert first.cancelled and not any(e["event"] == "done" for e in seen), first.log_tail[-20:]
    resumed = []
    second = run_in_child(two, resumed.append, env={"OMP_NUM_THREADS": "1"})

    assert second.ok, second.log_tail[-30:]
    saved = max(e["step"] for e in seen if e["event"] == "checkpoint")
    start = next(e for e in resumed if e["event"] == "start")
    assert start["start_step"] == saved and start["resumed_from"].endswith(f"checkpoint-{saved}")
    assert [e["event"] for e in seen + resumed].count("start") == 2  # rank 0 alone speaks
    losses = {e["step"]: e["loss"] for e in seen + resumed if e["event"] == "progress"}
    expected = {e["step"]: e["loss"] for e in alone.of("progress")}
    assert sorted(losses) == list(range(1, STEPS + 1))
    assert all(abs(losses[step] - expected[step]) < 1e-4 * expected[step] for step in losses), (losses, expected)

    final_one = load_file(tmp_path / "one" / "final" / "model.safetensors")
    final_two = load_file(tmp_path / "two" / "final" / "model.safetensors")
    assert final_one.keys() == final_two.keys()
    assert all(torch.allclose(final_one[name], final_two[name], atol=1e-4) for name in final_one)
