"""A resumed rank gets back its own GPU's random state, whatever GPUs the new host has."""

import random

import pytest
import torch

from training.jobs import train
from training.jobs.contract import TrainConfig


class FakeGpus:
    """``count`` CUDA devices as the RNG functions see them; the current one is ``current``."""

    def __init__(self, monkeypatch, count: int, current: int = 0):
        self.count, self.current, self.set = count, current, []
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: current)
        monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device="cuda": torch.tensor([current], dtype=torch.uint8))
        for module in (torch.cuda, torch.cuda.random):
            monkeypatch.setattr(module, "set_rng_state", self.set_rng_state)

    def set_rng_state(self, state, device="cuda"):
        index = self.current if device == "cuda" else torch.device("cuda", device).index
        if index >= self.count:
            raise RuntimeError(f"Invalid device id {index}")
        self.set.append((index, state))


def checkpoint(tmp_path, cuda_states):
    model = torch.nn.Linear(2, 2)
    optimizer = train.make_optimizer(model, TrainConfig(), torch.device("cpu"))
    scheduler = train.make_scheduler(optimizer, TrainConfig(), total_steps=10)
    state = {
        "step": 3, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "rng": {"python": random.getstate(), "torch": torch.get_rng_state(), "cuda": cuda_states},
    }  # fmt: skip
    torch.save(state, tmp_path / train.TRAINER_STATE)
    return model, optimizer, scheduler


@pytest.mark.parametrize("saved_by", ["one rank on an 8-GPU host (before the fix)", "one rank"])
def test_a_checkpoint_resumes_on_a_host_with_fewer_gpus(tmp_path, monkeypatch, saved_by):
    states = [torch.tensor([i], dtype=torch.uint8) for i in range(8 if "8-GPU" in saved_by else 1)]
    model, optimizer, scheduler = checkpoint(tmp_path, states)
    gpus = FakeGpus(monkeypatch, count=2)

    assert train.load_trainer_state(tmp_path, model, optimizer, scheduler, fsdp=False) == 3
    assert [(index, int(state[0])) for index, state in gpus.set] == [(0, 0)]


def test_each_rank_restores_the_state_its_own_gpu_had(tmp_path, monkeypatch):
    """Ranks consume different amounts of GPU randomness (SFT batches differ in length): each gets its own back."""
    model, optimizer, scheduler = checkpoint(tmp_path, [torch.tensor([10 + r], dtype=torch.uint8) for r in range(4)])
    gpus = FakeGpus(monkeypatch, count=8, current=2)
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setattr(train, "rank", lambda: 2)

    train.load_trainer_state(tmp_path, model, optimizer, scheduler, fsdp=False)

    assert [(index, int(state[0])) for index, state in gpus.set] == [(2, 12)]


def test_a_rank_saves_only_its_own_gpu_state(monkeypatch):
    FakeGpus(monkeypatch, count=8, current=5)
    assert [int(state[0]) for state in train.cuda_rng_states()] == [5]
