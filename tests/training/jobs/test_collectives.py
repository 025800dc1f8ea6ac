"""The job's own collectives work on the backend torchrun gives it: gloo on CPU, NCCL (CUDA tensors only) on GPUs."""

import os

import pytest
import torch
import torch.distributed as dist

from training.jobs import train


@pytest.fixture
def one_rank_group(monkeypatch):
    def start(backend: str):
        monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
        monkeypatch.setenv("MASTER_PORT", str(29500 + os.getpid() % 1000))
        dist.init_process_group(backend=backend, rank=0, world_size=1)

    yield start
    if dist.is_initialized():
        dist.destroy_process_group()


def test_numbers_are_summed_where_the_backend_can_reduce_them(monkeypatch):
    monkeypatch.setattr(train.dist, "get_backend", lambda: dist.Backend.NCCL)
    monkeypatch.setattr(train.torch.cuda, "current_device", lambda: 3)
    assert train.collective_device() == torch.device("cuda", 3)
    monkeypatch.setattr(train.dist, "get_backend", lambda: dist.Backend.GLOO)
    assert train.collective_device() == torch.device("cpu")


def test_all_ranks_sum_of_numbers_and_tensors_under_gloo(one_rank_group):
    one_rank_group("gloo")
    assert train.all_ranks_sum(41) == 41
    tensor = torch.tensor([1.5, 2.0])
    summed = train.all_ranks_sum(tensor)
    assert torch.equal(summed, tensor) and summed is not tensor


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU for NCCL")
def test_all_ranks_sum_of_a_token_count_under_nccl(one_rank_group):
    """What the loop does at every step with its target count: an int, reduced by NCCL."""
    torch.cuda.set_device(0)
    one_rank_group("nccl")
    assert train.all_ranks_sum(41) == 41


def test_the_ranks_wait_for_rank_zero_longer_than_nccls_ten_minutes(monkeypatch):
    """Rank 0 alone fetches the snapshot, restores a checkpoint from the store and saves a 7B model while
    the others sit in a barrier: past NCCL's default 10 minutes their watchdog would abort the job."""
    from datetime import timedelta

    started = {}
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(train.dist, "init_process_group", lambda **kwargs: started.update(kwargs))
    monkeypatch.setattr(train.dist, "barrier", lambda: None)
    monkeypatch.setattr(train.dist, "destroy_process_group", lambda: None)

    with train.process_group():
        pass

    assert started["timeout"] >= timedelta(minutes=60)
