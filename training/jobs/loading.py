"""Which device a job runs on and how it loads a model: what training and evaluation share.

Both jobs import this; neither imports the other.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from contextlib import nullcontext
from pathlib import Path
from typing import Callable, ContextManager

import torch
from transformers import AutoConfig, AutoModelForCausalLM

from training.jobs.contract import is_local_model


def pick_device(bf16: bool | str = "auto") -> tuple[torch.device, torch.dtype]:
    """The device and the dtype its matmuls run in: bf16 on CUDA where the card supports it; else CPU in fp32.

    Evaluation loads its model in that dtype. Training keeps what it trains in
    fp32 and computes in this dtype (:func:`weights_dtype`, :func:`autocast_context`).
    """
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))  # one GPU per rank under torchrun
        torch.cuda.set_device(device)
        use_bf16 = torch.cuda.is_bf16_supported() if bf16 == "auto" else bool(bf16)
    else:
        device = torch.device("cpu")
        use_bf16 = bf16 is True
    return device, torch.bfloat16 if use_bf16 else torch.float32


def weights_dtype(finetuning: str, compute: torch.dtype) -> torch.dtype:
    """The dtype training loads a model's weights in.

    A full fine-tune keeps fp32 master weights whatever it computes in: an
    AdamW update at a 7B's learning rates (1e-5..3e-4) is mostly below half a
    bf16 ulp of the weight it changes (8 bits of mantissa: 0.4 % of it), and
    would round away. A LoRA run's base is frozen, so it stays in the compute
    dtype (half the memory); its adapter is upcast to fp32 (:func:`upcast_trainable`).
    """
    return torch.float32 if finetuning == "full" else compute


def upcast_trainable(model) -> None:
    """The trainable parameters (a LoRA adapter) in fp32, in place, as the optimizer's master weights."""
    for parameter in model.parameters():
        if parameter.requires_grad and parameter.dtype != torch.float32:
            parameter.data = parameter.data.float()


def autocast_context(
    device: torch.device, compute: torch.dtype, *, sharded: bool = False
) -> Callable[[], ContextManager]:
    """What a forward pass runs in: bf16 autocast over the fp32 weights, or nothing.

    Nothing in fp32, and nothing under FSDP, whose MixedPrecisionPolicy casts
    the gathered weights to bf16 itself (training/jobs/train.py's ``shard_model``).
    """
    if compute == torch.float32 or sharded:
        return nullcontext
    return functools.partial(torch.autocast, device.type, dtype=compute)


def matmul_dtype(tensor: torch.Tensor) -> torch.dtype:
    """The dtype a matmul of ``tensor`` runs in here: autocast's inside an autocast region, else its own.

    For the job's own autograd functions, which cast explicitly and so compute
    the same in forward and in a backward that runs outside the region.
    """
    kind = tensor.device.type
    return torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else tensor.dtype


def attention_implementation(device: torch.device) -> str:
    if device.type == "cuda" and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def load_causal_lm(source: str, pin: dict, *, device: torch.device, dtype: torch.dtype):
    """Every model the jobs load: safetensors only and never remote code, since a checkpoint is data, not a program."""
    return AutoModelForCausalLM.from_pretrained(
        source,
        **pin,
        dtype=dtype,
        attn_implementation=attention_implementation(device),
        use_safetensors=True,
        trust_remote_code=False,
    )


def empty_causal_lm(source: str, pin: dict, *, device: torch.device, dtype: torch.dtype, config=None):
    """The model :func:`load_causal_lm` loads, built on the meta device: shapes and dtypes, no storage, no weights read.

    For the ranks of a sharded run that do not load the weights
    (training/jobs/train.py's ``load_sharded_model``). ``config``: the loaded
    model's, where this rank has one; else only ``config.json`` is read.
    """
    if config is None:
        config = AutoConfig.from_pretrained(source, **pin, trust_remote_code=False)
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(
            config, dtype=dtype, attn_implementation=attention_implementation(device), trust_remote_code=False
        )


def check_model_reference(reference: str) -> None:
    """Fail with a plain message when a local model folder is missing."""
    if is_local_model(reference) and not Path(reference).is_dir():
        raise FileNotFoundError(f"base model folder not found: {reference}")
