"""Direct preference optimisation (Rafailov et al. 2023) inside the training job's loop.

The loss is TRL's default, ``loss_type="sigmoid"``: for each pair,
``-log σ(β · ((log π(chosen) − log π_ref(chosen)) − (log π(rejected) − log π_ref(rejected))))``,
where a log-probability is the sum over the completion's tokens, and the
loss of a batch is the mean over its pairs. The rewards TRL logs are
``β · (log π − log π_ref)`` of each answer.

The reference's log-probabilities are computed once, in one pass over the
examples before the first step (:func:`attach_reference_logps`), and stored
with every checkpoint. Nothing of the reference stays in memory while
training, neither a second copy of a full fine-tune's weights (14 GB for a
7B model even in bf16, to be sharded like the policy under FSDP) nor a forward pass
per step: the pass costs what the per-step reference forwards would over one
epoch, and less over several. With LoRA the reference is the same model with
its adapter disabled (``disable_adapter``), so it is never copied either.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from typing import Callable, ContextManager

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.distributed.fsdp import FSDPModule

from training.jobs.data import IGNORE_INDEX, collate_pairs
from training.jobs.loading import matmul_dtype

REFERENCE_LOGPS = "reference_logps.pt"  # in each checkpoint: [examples, 2] (chosen, rejected)


def dpo_loss(
    chosen_logps: torch.Tensor, rejected_logps: torch.Tensor, ref_chosen: torch.Tensor, ref_rejected: torch.Tensor,
    beta: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """Per pair: (loss, chosen reward, rejected reward), as TRL's sigmoid DPO loss and its logged rewards."""
    chosen_rewards = beta * (chosen_logps - ref_chosen)
    rejected_rewards = beta * (rejected_logps - ref_rejected)
    return -F.logsigmoid(chosen_rewards - rejected_rewards), chosen_rewards.detach(), rejected_rewards.detach()


def reward_stats(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor) -> torch.Tensor:
    """Sums over the pairs, to add up across micro-batches and ranks: [correct, margin, chosen, rejected, pairs]."""
    return torch.stack([
        (chosen_rewards > rejected_rewards).sum().float(), (chosen_rewards - rejected_rewards).sum(),
        chosen_rewards.sum(), rejected_rewards.sum(), chosen_rewards.new_tensor(float(chosen_rewards.numel())),
    ])  # fmt: skip


def reward_means(sums: torch.Tensor) -> dict[str, float]:
    """:func:`reward_stats` summed over a window → the contract's REWARD_METRICS, means over its pairs."""
    correct, margin, chosen, rejected, pairs = sums.tolist()
    pairs = max(pairs, 1.0)
    return {"reward_accuracy": round(correct / pairs, 4), "reward_margin": round(margin / pairs, 6),
            "chosen_reward": round(chosen / pairs, 6), "rejected_reward": round(rejected / pairs, 6)}  # fmt: skip


# -- sequence log-probabilities ------------------------------------------------------------


def make_sequence_logps(model, decoder, head, chunk_tokens: int, autocast: Callable[[], ContextManager] = nullcontext):
    """``logps(input_ids, labels)``: each row's summed log-probability of its labelled tokens (-100 skipped).

    With ``chunk_tokens`` and a plain head, from the decoder's hidden states a
    chunk at a time (:class:`ChunkedTokenLogps`); else from the full logits.
    The forward pass runs in ``autocast``, the reference's as the policy's, so
    that the two agree before the first step.
    """

    def logps(input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        targets = F.pad(labels, (0, 1), value=IGNORE_INDEX)[:, 1:]
        with autocast():
            if chunk_tokens and head is not None:
                hidden = decoder(input_ids=input_ids).last_hidden_state
                per_token = ChunkedTokenLogps.apply(hidden.flatten(0, 1), head.weight, targets.flatten(), chunk_tokens)
                return per_token.view(targets.shape).sum(dim=1)
            logits = model(input_ids=input_ids).logits.float()
        keep = targets != IGNORE_INDEX
        per_token = logits.log_softmax(dim=-1).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        return (per_token * keep).sum(dim=1)

    return logps


class ChunkedTokenLogps(torch.autograd.Function):
    """Each token's log-probability of its target under ``hidden @ weight.T``, 0 where the target is -100.

    Unlike the job's summed cross-entropy, DPO weighs each sequence's tokens by
    its own factor, known only after every sequence's sum: so backward
    recomputes each chunk's logits (one more matmul of the head) instead of
    keeping gradients from forward. Never [tokens, vocab] whole.

    Its matmuls run in the dtype of forward's (bf16 under autocast, over an
    fp32 weight; training/jobs/loading.py's ``matmul_dtype``), in backward
    too, which runs outside the autocast region.
    """

    @staticmethod
    def forward(ctx, hidden, weight, targets, chunk_tokens: int):
        dtype = matmul_dtype(hidden)
        out = torch.zeros(hidden.shape[0], dtype=torch.float32, device=hidden.device)
        with torch.autocast(hidden.device.type, enabled=False):
            matrix = weight.to(dtype)
            for start in range(0, hidden.shape[0], chunk_tokens):
                rows = slice(start, start + chunk_tokens)
                target = targets[rows]
                logits = (hidden[rows].to(dtype) @ matrix.T).float()
                picked = logits.gather(1, target.clamp(min=0).unsqueeze(1)).squeeze(1) - logits.logsumexp(dim=1)
                out[rows] = picked * (target != IGNORE_INDEX)
        ctx.chunk_tokens, ctx.dtype = chunk_tokens, dtype
        ctx.save_for_backward(hidden, weight, targets)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        hidden, weight, targets = ctx.saved_tensors
        dtype = ctx.dtype
        grad_hidden = torch.empty_like(hidden) if ctx.needs_input_grad[0] else None
        grad_weight = torch.zeros_like(weight, dtype=torch.float32) if ctx.needs_input_grad[1] else None
        with torch.autocast(hidden.device.type, enabled=False):
            matrix = weight.to(dtype)
            for start in range(0, hidden.shape[0], ctx.chunk_tokens):
                rows = slice(start, start + ctx.chunk_tokens)
                chunk, target = hidden[rows].to(dtype), targets[rows]
                scale = (grad_out[rows] * (target != IGNORE_INDEX)).unsqueeze(1)
                # d log p(target) / d logits = one_hot - softmax, times the upstream gradient of the row.
                logits = (chunk @ matrix.T).float()
                grad = logits.softmax(dim=1).neg_()
                grad.scatter_add_(1, target.clamp(min=0).unsqueeze(1), torch.ones_like(scale))
                grad = (grad * scale).to(dtype)
                if grad_hidden is not None:
                    grad_hidden[rows] = grad @ matrix
                if grad_weight is not None:
                    grad_weight += grad.T @ chunk
        return grad_hidden, grad_weight.to(weight.dtype) if grad_weight is not None else None, None, None


# -- the reference --------------------------------------------------------------------------


@torch.no_grad()
def attach_reference_logps(
    model, examples: list[dict], logps, *, batch_size: int, pad_id: int, device: torch.device, rank: int = 0,
    world_size: int = 1,
) -> torch.Tensor:  # fmt: skip
    """The reference's (chosen, rejected) log-probabilities of every example, [examples, 2]; set as ``example["reference"]``.

    ``model`` as loaded, before any step: a full fine-tune's base, or a LoRA
    model whose adapter is disabled here. Under torchrun each rank scores every
    ``world_size``-th example and the results are gathered; every rank runs the
    same number of batches, as a sharded model's forward passes need.
    """
    count = len(examples)
    per_rank = math.ceil(count / world_size)
    mine = list(range(rank, count, world_size))
    mine += mine[-1:] * (per_rank - len(mine)) if mine else [0] * per_rank
    scores = torch.zeros(per_rank, 2, dtype=torch.float32, device=device)
    was_training = model.training
    model.eval()
    with model.disable_adapter() if hasattr(model, "disable_adapter") else nullcontext():
        for start in range(0, per_rank, batch_size):
            batch = collate_pairs([examples[i] for i in mine[start : start + batch_size]], pad_id)
            sums = logps(batch["input_ids"].to(device), batch["labels"].to(device)).float()
            scores[start : start + batch_size] = torch.stack(sums.chunk(2), dim=1)
    model.train(was_training)
    if isinstance(model, FSDPModule):
        # FSDP2 keeps the root's weights gathered after a forward pass, for the backward that here never
        # comes: shard them again, or the optimizer made next would hold the gathered copies, not the shards.
        model.reshard()
    if world_size > 1:
        gathered = [torch.empty_like(scores) for _ in range(world_size)]
        dist.all_gather(gathered, scores)
        scores = torch.stack(gathered, dim=1).flatten(0, 1)  # rank r's k-th is example k * world_size + r
    scores = scores[:count].cpu()
    set_reference_logps(examples, scores)
    return scores


def set_reference_logps(examples: list[dict], scores: torch.Tensor) -> None:
    if scores.shape != (len(examples), 2):
        raise ValueError(f"reference log-probabilities for {scores.shape[0]} pairs, but the snapshot makes {len(examples)}")
    for example, (chosen, rejected) in zip(examples, scores.tolist()):
        example["reference"] = (chosen, rejected)
