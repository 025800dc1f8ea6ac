"""A sharded run reads the model's weights on rank 0 alone; the other ranks build it on the meta device.

Each rank's ``from_pretrained`` calls are recorded by a ``sitecustomize``
put on the ranks' path: the job's own code carries no hook for the test.
"""

import dataclasses
import json

import pytest
import torch
from safetensors.torch import load_file

from tests.training.jobs.conftest import Recorder, make_spec
from tests.training.jobs.test_distributed import ONE_THREAD, assert_close, progress_losses
from training.jobs.contract import Resources
from training.jobs.runner import run_in_child
from training.jobs.train import run_training

# Loaded by every Python process on the path; records only in torchrun's ranks (RANK set).
SPY = """
import os

if os.environ.get("RANK") is not None and os.environ.get("LOAD_SPY_DIR"):
    from transformers import PreTrainedModel

    _from_pretrained = PreTrainedModel.from_pretrained.__func__

    def _recorded(cls, source, *args, **kwargs):
        name = os.path.join(os.environ["LOAD_SPY_DIR"], "rank-" + os.environ["RANK"])
        with open(name, "a") as log:
            log.write(str(source) + "\\n")
        return _from_pretrained(cls, source, *args, **kwargs)

    PreTrainedModel.from_pretrained = classmethod(_recorded)
"""


@pytest.mark.parametrize("gradient_checkpointing", [False, True])
def test_a_two_rank_fsdp_run_reads_the_weights_on_rank_0_only_and_trains_as_one_process(
    tiny_model, cpt_snapshot, tmp_path, gradient_checkpointing
):
    fields = {"max_steps": 6, "gradient_checkpointing": gradient_checkpointing}
    alone = Recorder()
    run_training(make_spec(tiny_model, cpt_snapshot, tmp_path / "one", batch_size=4, **fields), alone)
    spy, loads = tmp_path / "spy", tmp_path / "loads"
    spy.mkdir()
    loads.mkdir()
    (spy / "sitecustomize.py").write_text(SPY)
    two = dataclasses.replace(
        make_spec(tiny_model, cpt_snapshot, tmp_path / "two", batch_size=2, sharding="fsdp", **fields),
        resources=Resources(gpus_per_node=2),
    )
    seen = []

    result = run_in_child(two, seen.append, env={**ONE_THREAD, "PYTHONPATH": str(spy), "LOAD_SPY_DIR": str(loads)})

    assert result.ok, result.log_tail[-30:]
    assert sorted(path.name for path in loads.iterdir()) == ["rank-0"]  # rank 1 never called from_pretrained
    assert (loads / "rank-0").read_text().splitlines() == [str(tiny_model)]
    losses = progress_losses(seen)
    assert sorted(losses) == list(range(1, 7))
    assert_close(losses, progress_losses(alone))
    final_one, final_two = tmp_path / "one" / "final", tmp_path / "two" / "final"
    weights_one, weights_two = load_file(final_one / "model.safetensors"), load_file(final_two / "model.safetensors")
    assert weights_one.keys() == weights_two.keys()
    assert all(torch.allclose(weights_one[name], weights_two[name], atol=1e-4) for name in weights_one)
    for name in ("config.json", "generation_config.json"):  # rank 0 saves with the loaded model's
        assert json.loads((final_two / name).read_text()) == json.loads((final_one / name).read_text()), name
