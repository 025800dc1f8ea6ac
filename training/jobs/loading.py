"""Which device a job runs on and how it loads a model: what training and evaluation share.

Both jobs import this; neither imports the other.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from training.jobs.contract import is_local_model


def pick_device(bf16: bool | str = "auto") -> tuple[torch.device, torch.dtype]:
    """CUDA in bf16 where the card supports it (litgpt's "bf16-true"); else CPU in fp32."""
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))  # one GPU per rank under torchrun
        torch.cuda.set_device(device)
        use_bf16 = torch.cuda.is_bf16_supported() if bf16 == "auto" else bool(bf16)
    else:
        device = torch.device("cpu")
        use_bf16 = bf16 is True
    return device, torch.bfloat16 if use_bf16 else torch.float32


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


def check_model_reference(reference: str) -> None:
    """Fail with a plain message when a local model folder is missing."""
    if is_local_model(reference) and not Path(reference).is_dir():
        raise FileNotFoundError(f"base model folder not found: {reference}")
