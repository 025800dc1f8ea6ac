"""Will a training run fit, and how long will it take? Figures before a GPU is touched.

Standard library only: the portal's form and ``manage.py train`` call it
before dispatch. The figures are estimates for refusing what cannot work and
for planning, not promises:

- parameters from the model's ``config.json`` (a Llama/Mistral-shaped decoder:
  grouped-query attention, a gated MLP, untied or tied embeddings);
- memory per GPU = weights + gradients + AdamW state + activations. A full
  fine-tune runs as training/jobs/train.py does: fp32 master weights, fp32
  gradients and fp32 AdamW moments, 16 bytes per parameter, whatever the
  matmuls run in (a bf16 weight would lose most AdamW updates; see
  docs/runs.md). With ``sharded`` (FSDP, see training/jobs/contract.py's
  ``sharded``) those are divided over every GPU of the run, and each unit's
  weights are gathered in bf16 only while it runs (within the overhead). With
  one process per GPU each GPU holds them all, and bf16 autocast adds a bf16
  copy of every weight, made in forward and kept for backward: 18 bytes. LoRA
  trains about 1 % of the parameters, in fp32; the frozen base costs 2 bytes
  each in bf16 (4 with ``bf16=False``);
- activations per layer ~ 34 · tokens · hidden bytes in bf16 (Korthikanti et
  al. 2022, with a fused attention kernel that keeps no score matrix; twice
  that in fp32); with gradient checkpointing only each layer's input
  (2 · tokens · hidden) plus one layer's worth while it is recomputed;
- time = 6 · N · tokens / (GPUs · peak FLOP/s · MFU), the usual dense-transformer count;
- DPO (``method="dpo"``): each example is a pair, two sequences, so a batch
  of ``batch_size`` pairs has twice the activations and tokens of as many
  sequences. The reference model costs time, not memory: the job scores every
  pair with it once, before the first step (training/jobs/dpo.py), a forward
  pass (2 · N FLOPs a token) over each trained token, and no second copy of the
  weights is held while training, full fine-tune or LoRA.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

GB = 1e9
MASTER_BYTES_PER_PARAMETER = 16  # what is trained: fp32 weights 4 + fp32 gradients 4 + fp32 AdamW moments 8
AUTOCAST_COPY_BYTES_PER_PARAMETER = 2  # one process in bf16: autocast's bf16 copy of each weight, kept for backward
FROZEN_BYTES_PER_PARAMETER = 2  # bf16 weights under a LoRA adapter (fp32: twice that)
LORA_BYTES_PER_PARAMETER = MASTER_BYTES_PER_PARAMETER  # the fp32 adapter
ACTIVATION_BYTES_PER_TOKEN_HIDDEN = 34  # in bf16 (fp32: twice that)
CHECKPOINTED_BYTES_PER_TOKEN_HIDDEN = 2
OVERHEAD_BYTES = 2 * GB  # CUDA context, allocator fragmentation, communication buffers


@dataclass(frozen=True)
class ModelShape:
    """The sizes of a decoder that fix its parameter count, as ``config.json`` names them."""

    hidden_size: int
    num_layers: int
    vocab_size: int
    intermediate_size: int
    num_heads: int
    num_kv_heads: int
    tied_embeddings: bool = False

    @classmethod
    def from_config(cls, config: dict) -> ModelShape:
        """Raises ``KeyError`` naming the first size the config lacks."""
        heads = config["num_attention_heads"]
        return cls(
            hidden_size=config["hidden_size"],
            num_layers=config["num_hidden_layers"],
            vocab_size=config["vocab_size"],
            intermediate_size=config["intermediate_size"],
            num_heads=heads,
            num_kv_heads=config.get("num_key_value_heads") or heads,
            tied_embeddings=bool(config.get("tie_word_embeddings", False)),
        )

    @classmethod
    def from_folder(cls, folder: str | Path) -> ModelShape:
        return cls.from_config(json.loads((Path(folder) / "config.json").read_text(encoding="utf-8")))

    @property
    def parameters(self) -> int:
        h, kv = self.hidden_size, self.hidden_size * self.num_kv_heads // self.num_heads
        attention = 2 * h * h + 2 * h * kv  # q and o; k and v for the grouped KV heads
        mlp = 3 * h * self.intermediate_size  # gate, up, down
        layer = attention + mlp + 2 * h  # two RMSNorms
        embeddings = self.vocab_size * h * (1 if self.tied_embeddings else 2)
        return self.num_layers * layer + embeddings + h  # the final norm

    def lora_parameters(self, rank: int) -> int:
        """Adapter parameters on every attention and MLP projection (the job's default targets)."""
        h, kv = self.hidden_size, self.hidden_size * self.num_kv_heads // self.num_heads
        shapes = [(h, h), (h, kv), (h, kv), (h, h), (h, self.intermediate_size), (h, self.intermediate_size),
                  (self.intermediate_size, h)]  # fmt: skip
        return self.num_layers * sum(rank * (n_in + n_out) for n_in, n_out in shapes)


@dataclass(frozen=True)
class Hardware:
    """One GPU: its memory and dense bf16 peak. The defaults are an H100 SXM's."""

    memory_gb: float = 80.0
    peak_tflops: float = 989.0
    mfu: float = 0.4  # the share of peak a well-tuned fine-tune reaches


@dataclass(frozen=True)
class Estimate:
    parameters: int
    trainable_parameters: int
    state_gb: float  # weights (and autocast's bf16 copies), gradients and optimizer state on one GPU
    activations_gb: float
    memory_gb: float  # per GPU, overhead included
    fits: bool
    tokens: int
    seconds: float

    @property
    def hours(self) -> float:
        return self.seconds / 3600


def estimate(
    shape: ModelShape, *, finetuning: str, seq_len: int, batch_size: int, steps: int, grad_accum: int = 1,
    gpus: int = 1, gradient_checkpointing: bool = False, sharded: bool = False, lora_r: int = 16, bf16: bool = True,
    method: str = "cpt", hardware: Hardware = Hardware(),
) -> Estimate:  # fmt: skip
    """Memory per GPU and wall time of ``steps`` optimizer steps; ``batch_size`` is sequences (DPO: pairs) per GPU per micro-batch."""
    n = shape.parameters
    if finetuning == "lora":
        trainable = shape.lora_parameters(lora_r)
        state = n * FROZEN_BYTES_PER_PARAMETER * (1 if bf16 else 2) + trainable * LORA_BYTES_PER_PARAMETER
    elif sharded:  # FSDP's MixedPrecisionPolicy gathers bf16 weights a unit at a time: no copy of them all
        trainable, state = n, n * MASTER_BYTES_PER_PARAMETER / gpus
    else:
        trainable, state = n, n * (MASTER_BYTES_PER_PARAMETER + (AUTOCAST_COPY_BYTES_PER_PARAMETER if bf16 else 0))
    tokens_per_gpu = seq_len * batch_size * (2 if method == "dpo" else 1)
    activation_bytes = ACTIVATION_BYTES_PER_TOKEN_HIDDEN * (1 if bf16 else 2)
    if gradient_checkpointing:
        per_layer = CHECKPOINTED_BYTES_PER_TOKEN_HIDDEN * (1 if bf16 else 2) * tokens_per_gpu * shape.hidden_size
        activations = per_layer * shape.num_layers + activation_bytes * tokens_per_gpu * shape.hidden_size
    else:
        activations = activation_bytes * tokens_per_gpu * shape.hidden_size * shape.num_layers
    memory = state + activations + OVERHEAD_BYTES
    tokens = steps * grad_accum * tokens_per_gpu * gpus
    flops = 6 * n * tokens * (4 / 3 if gradient_checkpointing else 1)  # recomputing the forward pass costs a third more
    if method == "dpo":
        flops += 2 * n * tokens  # the reference's forward pass over the same pairs
    seconds = flops / (gpus * hardware.peak_tflops * 1e12 * hardware.mfu)
    return Estimate(
        parameters=n, trainable_parameters=trainable, state_gb=state / GB, activations_gb=activations / GB,
        memory_gb=memory / GB, fits=memory <= hardware.memory_gb * GB, tokens=tokens, seconds=seconds,
    )  # fmt: skip


def advice(
    result: Estimate, *, finetuning: str, gradient_checkpointing: bool, sharded: bool = False,
    hardware: Hardware = Hardware(),
) -> str:  # fmt: skip
    """What to change so that a run that does not fit does, the first that applies, as a code.

    "shard" (a full fine-tune whose replica does not fit, but whose state
    would, sharded over more GPUs), "lora" or "smaller_model" (the weights
    and optimizer state alone are too large), "gradient_checkpointing", else
    "smaller_batch".
    """
    if result.state_gb > hardware.memory_gb and finetuning == "full" and not sharded:
        return "shard"
    if result.state_gb > hardware.memory_gb:
        return "lora" if finetuning == "full" else "smaller_model"
    return "smaller_batch" if gradient_checkpointing else "gradient_checkpointing"


def steps_for(examples: int, *, epochs: float, batch_size: int, grad_accum: int, gpus: int) -> int:
    """Optimizer steps of ``epochs`` passes over ``examples``, as the job counts them."""
    return max(1, math.ceil(epochs * max(1, examples // (batch_size * gpus)) / grad_accum))
