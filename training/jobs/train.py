"""The training job: continual pre-training, instruction tuning or DPO, full or LoRA.

Reads straight through, nanoGPT-style:

1. data    - fetch the snapshot if it is in the object store, verify its
             manifest, pin the base model's revision, tokenise the
             snapshot's ``train`` split
2. model   - base model (or the latest checkpoint: resume is the retry);
             what is trained is kept in fp32 (master weights, and AdamW's
             state with them), the forward and backward passes run in bf16
             where the GPU has it (autocast; FSDP2's MixedPrecisionPolicy
             when sharded); on CUDA the decoder is compiled and fp32 matmuls may use TF32
3. loop    - AdamW, linear warmup then cosine, gradient accumulation,
             cross-entropy in chunks from the hidden states (DPO: the
             sigmoid preference loss against reference log-probabilities
             computed once before the first step, training/jobs/dpo.py),
             JSON-line events, a checkpoint every ``save_every`` steps
4. final   - ``output_dir/final/``: a plain transformers model (LoRA merged), in bf16
             after a bf16 run

Under ``torchrun`` (training/jobs/runner.py: ``resources.gpus_per_node`` ×
``nodes`` > 1) the same code runs as ranks 0..N-1, data-parallel: each rank
takes its share of every micro-batch, the summed gradients are all-reduced
once per optimizer step, so N ranks compute what one process would on the
same global batch. Only rank 0 emits events and writes checkpoints (the full
state, identical on every rank) and the final model; the others wait for it,
and any number of ranks resumes from it.

A full fine-tune on several ranks is sharded instead (``train.sharding``,
training/jobs/contract.py's ``sharded``): right after loading, FSDP2's
``fully_shard`` gives each rank 1/N of every weight, gradient and AdamW
moment, gathering a layer's weights only while it runs. Its checkpoints are
``torch.distributed.checkpoint`` shards that every rank writes, and that
any number of ranks (one included) reads back, resharded; the final model is
gathered onto rank 0 and saved whole.

A checkpoint folder is written under a temporary name and renamed when
complete, so a job killed while saving leaves nothing that resume would trust.
With ``spec.output_uri`` each checkpoint and the final model are also copied
to the object store (training/run_store.py), and an attempt on another
host resumes from the newest complete one there.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import shutil
import time
from contextlib import contextmanager, nullcontext
from datetime import timedelta
from pathlib import Path
from typing import Callable, ContextManager

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
import torch.nn.functional as F
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_state_dict,
    set_model_state_dict,
    set_state_dict,
)
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
from transformers import AutoTokenizer

from training import run_store
from training.jobs.contract import Checkpoint, Done, JobSpec, Progress, Start, TrainConfig, is_store_uri, sharded
from training.jobs.data import IGNORE_INDEX, Batches, load_examples, verify_snapshot
from training.jobs.dpo import (
    REFERENCE_LOGPS,
    attach_reference_logps,
    dpo_loss,
    make_sequence_logps,
    reward_means,
    reward_stats,
    set_reference_logps,
)
from training.jobs.events import Emit, EventWriter, heartbeat
from training.jobs.loading import (
    autocast_context,
    check_model_reference,
    empty_causal_lm,
    load_causal_lm,
    matmul_dtype,
    pick_device,
    upcast_trainable,
    weights_dtype,
)
from training.jobs.revision import hub_revision, resolve_revision

CHECKPOINT = run_store.CHECKPOINT  # checkpoint-<step>, here and in the object store
TRAINER_STATE = "trainer_state.pt"  # written last: its presence marks a complete checkpoint
SHARDS = "shards"  # a sharded checkpoint's weights and optimizer state (torch.distributed.checkpoint)
SUMMARY = "summary.json"
TOKEN_CACHE = "token-cache"  # CPT's tokenised snapshot (training/jobs/token_cache.py), reused by a resumed attempt
# How long a collective may wait. The other ranks wait in a barrier while rank 0 alone fetches the
# snapshot, restores a checkpoint from the object store, or saves and uploads a 7B model's weights and
# optimizer state: NCCL's default of 10 minutes would have its watchdog abort a job doing just that.
RANK_ZERO_WAIT = timedelta(minutes=90)
METHOD_TITLES = {"cpt": "Continual pre-training", "sft": "Instruction tuning", "dpo": "Preference optimisation (DPO)"}


def run_training(spec: JobSpec, emit: Emit | None = None) -> dict:
    """Run (or resume) a training job; return the ``done`` event's fields.

    Raises on failure; ``python -m training.jobs`` turns that into an
    ``error`` event and exit code 1.
    """
    emit = EventWriter(run_id=spec.run_id) if emit is None else emit
    with process_group():
        emit = emit if rank() == 0 else _silent
        with heartbeat(emit, spec.train.heartbeat_seconds):
            return _train(spec, emit)


def _train(spec: JobSpec, emit: Emit) -> dict:
    cfg = spec.train
    out = Path(spec.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    uses_store = bool(spec.output_uri) or is_store_uri(spec.snapshot_dir)
    store = run_store.Store.from_env() if uses_store else None

    # Idempotent: a job whose final model exists reports it again and stops.
    summary = finished_summary(out, store, spec.output_uri)
    if summary is not None:
        emit(Done(**summary, already_done=True))
        return summary

    device, dtype = pick_device(cfg.bf16)  # dtype: what the matmuls run in; what is trained stays fp32
    enable_tf32(device)
    seed_everything(cfg.seed)

    # -- 1. data ----------------------------------------------------------------
    with rank_zero_first():  # one download into the shared cache; the others find it there
        snapshot_dir = local_snapshot(spec, store)
        resume_from = latest_checkpoint(out)
        if spec.output_uri:  # a host that went away may have got further than this one
            restored = run_store.restore_checkpoint(store, spec.output_uri, out, newer_than=checkpoint_step(resume_from))
            resume_from = restored or resume_from
    snapshot_sha256 = verify_snapshot(snapshot_dir, spec.snapshot_sha256)
    check_model_reference(spec.base_model)
    # A later attempt loads what the first one did, even if a hub tag moved since.
    revision = resolve_revision(spec.base_model, spec.base_model_revision or checkpoint_revision(resume_from))
    spec = dataclasses.replace(spec, base_model_revision=revision)  # so every job.json pins it
    tokenizer = AutoTokenizer.from_pretrained(
        spec.base_model, **hub_revision(spec.base_model, revision), trust_remote_code=False
    )
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    examples = load_examples(
        tokenizer, snapshot_dir, spec.method, cfg.seq_len, spec.languages, cache_dir=out / TOKEN_CACHE, rank=rank(),
        world_size=world_size(), barrier=barrier,
    )  # fmt: skip
    dpo = spec.method == "dpo"
    batches = Batches(examples, cfg.batch_size, cfg.seed, tokenizer.pad_token_id, rank(), world_size(), pairs=dpo)
    total_steps = cfg.max_steps or max(1, math.ceil(cfg.epochs * batches.per_epoch / cfg.grad_accum))

    # -- 2. model, optimizer, schedule; resume from the latest checkpoint -------
    fsdp = sharded(cfg.sharding, finetuning=spec.finetuning, gpus=world_size())
    model = load_model(spec, resume_from, device, dtype, fsdp=fsdp)  # sharded already when fsdp
    autocast = autocast_context(device, dtype, sharded=fsdp)
    compiled = compile_wanted(cfg.torch_compile, device)
    if compiled:
        # Asked for by default ("auto"), a graph that fails to compile runs eagerly instead of failing the job.
        torch._dynamo.config.suppress_errors = cfg.torch_compile == "auto"
        split_head(model)[0].compile()  # in place: parameter names, and so checkpoints, are unchanged
    # The chunked loss reads the head's weight outside a forward pass, where FSDP has not gathered it.
    chunk_tokens = 0 if fsdp else cfg.loss_chunk_tokens
    loss_of = make_loss(model, chunk_tokens, autocast)
    logps_of = make_sequence_logps(model, *split_head(model), chunk_tokens, autocast) if dpo else None
    # Before load_trainer_state (which loads a sharded checkpoint's weights): a new run scores the model as loaded.
    pad_id = tokenizer.pad_token_id
    reference = reference_logps(model, examples, logps_of, resume_from, spec, device, pad_id) if dpo else None
    optimizer = make_optimizer(model, cfg, device)
    scheduler = make_scheduler(optimizer, cfg, total_steps)
    step = load_trainer_state(resume_from, model, optimizer, scheduler, fsdp) if resume_from else 0

    emit(Start(
        kind="train",
        method=spec.method,
        finetuning=spec.finetuning,
        device=str(device),
        dtype=str(dtype).removeprefix("torch."),
        attn_implementation=model.config._attn_implementation,
        parameters=sum(p.numel() for p in model.parameters()),
        trainable_parameters=sum(p.numel() for p in model.parameters() if p.requires_grad),
        examples=len(examples),
        total_steps=total_steps,
        start_step=step,
        resumed_from=str(resume_from) if resume_from else None,
        snapshot_sha256=snapshot_sha256,
        base_model_revision=revision,
        compiled=compiled,
        loss_chunk_tokens=cfg.loss_chunk_tokens,
    ))

    # -- 3. the loop ----------------------------------------------------------
    model.train()
    stream = batches.iterate(start=step * cfg.grad_accum)
    run_tokens, run_started = 0, time.perf_counter()
    window_loss = torch.zeros((), device=device)
    window_rewards = torch.zeros(5, device=device)  # DPO: dpo.reward_stats summed
    window_steps, window_tokens, window_started = 0, 0, time.perf_counter()
    last_loss = float("nan")
    while step < total_steps:
        micro_batches = [next(stream) for _ in range(cfg.grad_accum)]
        # Normalise by the number of predicted tokens across all micro-batches,
        # so accumulation gives the same gradient as one big batch.
        # DPO: the mean over the pairs, as TRL's loss.
        targets = (
            cfg.batch_size * cfg.grad_accum * world_size() if dpo
            else all_ranks_sum(sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in micro_batches))
        )  # fmt: skip
        for batch in micro_batches:
            window_tokens += int(batch["attention_mask"].sum())
            # Padding is always on the right, where causal attention never looks
            # back at it and its labels are -100: no mask is needed, so the
            # attention kernel takes its fast causal path (and no mask check syncs).
            input_ids = batch["input_ids"].to(device, non_blocking=True)
            labels = batch["labels"].to(device, non_blocking=True)
            if dpo:
                chosen, rejected = logps_of(input_ids, labels).chunk(2)
                ref_chosen, ref_rejected = batch["reference"].to(device, non_blocking=True).chunk(2)
                losses, chosen_rewards, rejected_rewards = dpo_loss(chosen, rejected, ref_chosen, ref_rejected, cfg.dpo_beta)
                loss = losses.sum() / targets
                window_rewards += reward_stats(chosen_rewards, rejected_rewards)
            else:
                loss = loss_of(input_ids, labels) / max(targets, 1)
            loss.backward()
            window_loss += loss.detach()
        if not fsdp:  # FSDP has reduce-scattered them in backward
            all_reduce_gradients(model)
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        window_steps += 1

        if step % cfg.log_every == 0 or step == total_steps:
            window_loss, window_tokens = all_ranks_sum(window_loss), all_ranks_sum(window_tokens)
            last_loss = window_loss.item() / window_steps  # .item() waits for the GPU
            if not math.isfinite(last_loss):
                raise FloatingPointError(f"loss is {last_loss} at step {step}")
            elapsed = time.perf_counter() - window_started
            emit(Progress(
                step=step,
                total_steps=total_steps,
                loss=round(last_loss, 6),  # mean over the steps since the last progress event
                lr=scheduler.get_last_lr()[0],
                tokens_per_second=round(window_tokens / elapsed, 1),
                eta_seconds=round((total_steps - step) * elapsed / window_steps, 1),
                **(reward_means(all_ranks_sum(window_rewards)) if dpo else {}),
            ))
            window_rewards.zero_()
            run_tokens += window_tokens
            window_loss.zero_()
            window_steps, window_tokens, window_started = 0, 0, time.perf_counter()

        if step % cfg.save_every == 0 and step < total_steps:
            path = save_checkpoint(out, step, model, tokenizer, optimizer, scheduler, spec, snapshot_sha256, fsdp, reference)
            if rank() == 0:
                if spec.output_uri:
                    path = run_store.upload_checkpoint(store, path, spec.output_uri, keep=cfg.keep_checkpoints)
                emit(Checkpoint(step=step, path=str(path)))
            barrier()  # no rank runs on past a checkpoint that is not yet complete
            window_started = time.perf_counter()  # saving is not training time

    train_seconds = time.perf_counter() - run_started
    # -- 4. the final model ---------------------------------------------------
    summary = {
        "steps": step,
        "final_loss": round(last_loss, 6),
        "tokens": run_tokens,
        "tokens_per_second": round(run_tokens / train_seconds, 1),
        "train_seconds": round(train_seconds, 3),
    }
    gathered = gathered_state_dict(model) if fsdp else None  # every rank takes part
    if rank() != 0:
        return summary
    final_uri = run_store.join_uri(spec.output_uri, "final") if spec.output_uri else None
    summary["checkpoint"] = final_uri or str(out / "final")
    final = save_final(out, model, tokenizer, spec, snapshot_sha256, summary, gathered, dtype=dtype)
    shutil.rmtree(out / TOKEN_CACHE, ignore_errors=True)  # a finished job is never resumed: free the disk
    if final_uri:
        run_store.upload_folder(store, final, final_uri)
    emit(Done(**summary))
    return summary


def reference_logps(model, examples, logps_of, resume_from: Path | None, spec: JobSpec, device, pad_id: int):
    """DPO's reference log-probabilities, [examples, 2]: a resumed run's from its checkpoint, else one pass now.

    A resumed LoRA run could score them again with its adapter disabled; a
    resumed full fine-tune no longer holds the reference weights, so its
    checkpoint must have them.
    """
    stored = resume_from / REFERENCE_LOGPS if resume_from is not None else None
    if stored is not None and stored.is_file():
        scores = torch.load(stored, map_location="cpu", weights_only=True)
        set_reference_logps(examples, scores)
        return scores
    if resume_from is not None and spec.finetuning == "full":
        raise FileNotFoundError(f"{resume_from.name} holds no {REFERENCE_LOGPS}: the DPO reference cannot be scored again")
    return attach_reference_logps(
        model, examples, logps_of, batch_size=spec.train.batch_size, pad_id=pad_id, device=device, rank=rank(),
        world_size=world_size(),
    )  # fmt: skip


def local_snapshot(spec: JobSpec, store: run_store.Store | None) -> Path:
    """The snapshot as a local folder: from the object store (each file checked) when the spec names a URI."""
    if is_store_uri(spec.snapshot_dir):
        return run_store.fetch_snapshot(spec.snapshot_dir, spec.snapshot_sha256, store=store)
    return Path(spec.snapshot_dir)


def finished_summary(out: Path, store: run_store.Store | None, output_uri: str | None) -> dict | None:
    """The summary of a job whose final model is saved (and, with ``output_uri``, in the store); else None."""
    local = out / "final" / SUMMARY
    if not output_uri:
        return json.loads(local.read_text()) if local.is_file() else None
    final_uri = run_store.join_uri(output_uri, "final")
    if run_store.read_complete(store, final_uri) is None:
        if not local.is_file():
            return None
        run_store.upload_folder(store, out / "final", final_uri)  # saved here, but the upload never finished
    return json.loads(store.read_bytes(run_store.join_uri(final_uri, SUMMARY)))


# -- data parallelism ---------------------------------------------------------------


@contextmanager
def process_group():
    """Join torchrun's process group (gloo on CPU, NCCL on CUDA) when there is more than one rank."""
    if world_size() == 1:
        yield
        return
    dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo", timeout=RANK_ZERO_WAIT)
    try:
        yield
        # No rank leaves while another still talks to it: a rank that tears its group down first made
        # a finished two-rank run exit 1 now and then on a loaded machine.
        dist.barrier()
    finally:
        dist.destroy_process_group()


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))  # set by torchrun


@contextmanager
def rank_zero_first():
    """Rank 0 runs the block, then the others: for downloads and writes they must find complete."""
    if rank() == 0:
        yield
    barrier()
    if rank() != 0:
        yield


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def all_ranks_sum(value):
    """``value`` (a number or a tensor) summed over the ranks; itself with one rank."""
    if not dist.is_initialized():
        return value
    if isinstance(value, int):
        # NCCL reduces CUDA tensors only: a number made into a CPU tensor there fails with
        # "No backend type associated with device type cpu" at the first step of every multi-GPU run.
        tensor = torch.tensor(value, dtype=torch.float64, device=collective_device())
    else:
        tensor = value.clone()
    dist.all_reduce(tensor)
    return int(tensor.item()) if isinstance(value, int) else tensor


def collective_device() -> torch.device:
    """Where a tensor must be for the default process group to reduce it: the rank's GPU under NCCL."""
    if dist.get_backend() == dist.Backend.NCCL:
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_gradients(model) -> None:
    """Sum the trainable parameters' gradients over the ranks.

    Each rank's loss is already divided by the target count of all ranks, so
    the sum is the one-process gradient. Done once per optimizer step (not
    per micro-batch), tensor by tensor, so no second copy of the gradients is made.
    """
    if not dist.is_initialized():
        return
    for parameter in model.parameters():
        if parameter.grad is not None:
            dist.all_reduce(parameter.grad)


def shard_model(model, compute: torch.dtype = torch.float32) -> None:
    """FSDP2, in place: each decoder layer is a unit, the root the rest (embeddings, final norm, head).

    The shards are the fp32 master weights, and AdamW's moments with them; a
    unit's weights are gathered in ``compute`` (bf16 on the GPU) for its
    forward and backward, and the gradients reduce-scattered in fp32.
    Gradients are summed over the ranks, not averaged: each rank's loss is
    already divided by the target count of all ranks, as for
    :func:`all_reduce_gradients`.
    """
    mixed = compute != torch.float32
    policy = MixedPrecisionPolicy(param_dtype=compute, reduce_dtype=torch.float32) if mixed else MixedPrecisionPolicy()
    units = [*model.get_decoder().layers, model]
    for unit in units:
        fully_shard(unit, mp_policy=policy)
    for unit in units:
        unit.set_gradient_divide_factor(1.0)
        unit.set_force_sum_reduction_for_comms(True)  # a plain SUM: gloo has no pre-multiplied sum


def gathered_state_dict(model) -> dict:
    """A sharded model's full state dict on rank 0's CPU (empty on the others); every rank must call it."""
    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def _silent(event: str, **fields) -> None:
    """The ``emit`` of ranks other than 0: one rank speaks for the job."""


# -- device and precision --------------------------------------------------------


def enable_tf32(device: torch.device) -> None:
    """TF32 for what still runs in fp32 on CUDA (an fp32 run's matmuls); bf16 matmuls are unaffected."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.fp32_precision = "tf32"
        torch.backends.cudnn.conv.fp32_precision = "tf32"


def compile_wanted(setting: bool | str, device: torch.device) -> bool:
    """``torch_compile``: "auto" compiles on CUDA where Triton finds a C compiler to build its launchers."""
    if setting == "auto":
        compilers = (os.environ.get("CC"), "cc", "gcc", "clang")
        return device.type == "cuda" and any(shutil.which(cc) for cc in compilers if cc)
    return bool(setting)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


# -- model, optimizer, schedule --------------------------------------------------


def load_model(
    spec: JobSpec, resume_from: Path | None, device: torch.device, dtype: torch.dtype, *, fsdp: bool = False
):
    """The base model, or a full fine-tune's checkpoint, optionally wrapped in LoRA; with ``fsdp``, sharded.

    ``dtype`` is the compute dtype; what is trained is loaded in fp32
    (training/jobs/loading.py's ``weights_dtype``), a LoRA run's frozen base in ``dtype``.
    Sharded (a full fine-tune only: contract.py's ``sharded``), rank 0 alone reads the
    weights and the other ranks build the model on the meta device (:func:`load_sharded_model`).
    """
    check_model_reference(spec.base_model)
    # A sharded checkpoint holds no model folder: its weights are loaded after sharding, with the optimizer's.
    full_resume = resume_from is not None and spec.finetuning == "full" and not (resume_from / SHARDS).is_dir()
    source = str(resume_from) if full_resume else spec.base_model
    pin = hub_revision(source, spec.base_model_revision)
    weights = weights_dtype(spec.finetuning, dtype)
    if fsdp:
        return load_sharded_model(source, pin, device, weights, dtype, spec.train.gradient_checkpointing)
    model = load_causal_lm(source, pin, device=device, dtype=weights)
    model.config.use_cache = False  # the KV cache is for generation only
    if spec.finetuning == "lora":
        model = wrap_lora(model, spec.train, resume_from)
        upcast_trainable(model)  # PEFT does so already for a bf16 base; the optimizer relies on it
    if spec.train.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if spec.finetuning == "lora":
            model.enable_input_require_grads()
    return model.to(device)


def load_sharded_model(
    source: str, pin: dict, device: torch.device, weights: torch.dtype, compute: torch.dtype,
    gradient_checkpointing: bool,
):  # fmt: skip
    """A full fine-tune's model, sharded, its weights read once per job rather than once per rank.

    Loaded on every rank, a 7B in fp32 would take 8 × 29 GB of a node's host
    memory and 29 GB of each GPU before sharding. Instead rank 0 loads it on
    the CPU; every rank builds it on the meta device, shards it
    (:func:`shard_model`) and allocates its own shards, which rank 0 then fills
    by broadcast (as torchtitan and torchtune do).
    """
    loaded = load_causal_lm(source, pin, device=device, dtype=weights) if rank() == 0 else None
    config = loaded.config if loaded is not None else None
    model = empty_causal_lm(source, pin, device=device, dtype=weights, config=config)
    if loaded is not None:
        model.generation_config = loaded.generation_config  # rank 0 saves the final model with it
    model.config.use_cache = False  # the KV cache is for generation only
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    shard_model(model, compute)
    model.to_empty(device=device)
    # Buffers no state dict holds (the rotary embedding's inv_freq) were computed on the meta device: rank 0's are real.
    loaded_buffers = dict(loaded.named_buffers()) if loaded is not None else {}
    for name, buffer in model.named_buffers():
        if loaded is not None:
            buffer.copy_(loaded_buffers[name])
        dist.broadcast(buffer, src=0)
    full_state = loaded.state_dict() if loaded is not None else {}
    options = StateDictOptions(full_state_dict=True, broadcast_from_rank0=True)
    set_model_state_dict(model, full_state, options=options)
    return model


def wrap_lora(model, cfg: TrainConfig, resume_from: Path | None):
    from peft import LoraConfig, PeftModel, get_peft_model

    if resume_from is not None:
        return PeftModel.from_pretrained(model, resume_from, is_trainable=True)
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.lora_target_modules),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def make_optimizer(model, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW; no weight decay on norms and biases (1-D tensors), as in nanoGPT."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in trainable if p.ndim >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in trainable if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(
        groups, lr=cfg.learning_rate, betas=tuple(cfg.adam_betas), fused=device.type == "cuda"
    )


def make_scheduler(optimizer, cfg: TrainConfig, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup over warmup_ratio of the steps, then cosine down to min_lr_ratio."""
    warmup = math.ceil(cfg.warmup_ratio * total_steps)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


# -- the loss -------------------------------------------------------------------------


def make_loss(model, chunk_tokens: int, autocast: Callable[[], ContextManager] = nullcontext):
    """``loss(input_ids, labels)``: summed next-token cross-entropy in fp32; label -100 is skipped.

    The labels are shifted (padded with -100 at the end) rather than the
    logits sliced, which would copy the largest tensor of the step. With
    ``chunk_tokens`` the loss is taken from the decoder's hidden states a chunk
    at a time (:class:`ChunkedCrossEntropy`); with 0, from the full logits.
    The forward pass runs in ``autocast`` (:func:`~training.jobs.loading.autocast_context`).
    """
    decoder, head = split_head(model)

    def loss(input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        targets = F.pad(labels, (0, 1), value=IGNORE_INDEX)[:, 1:].flatten()
        with autocast():
            if chunk_tokens and head is not None:
                hidden = decoder(input_ids=input_ids).last_hidden_state
                return chunked_cross_entropy(hidden.flatten(0, 1), head.weight, targets, chunk_tokens)
            logits = model(input_ids=input_ids).logits
            return F.cross_entropy(logits.flatten(0, 1).float(), targets, ignore_index=IGNORE_INDEX, reduction="sum")

    return loss


def split_head(model) -> tuple[torch.nn.Module, torch.nn.Linear | None]:
    """The decoder stack and the output projection (None where the loss must use the model's own logits).

    Only a plain bias-free ``nn.Linear`` head turns hidden states into logits
    as ``hidden @ weight.T`` alone; a LoRA-wrapped or soft-capped one does more.
    """
    causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model  # under a PEFT wrapper
    head = causal_lm.get_output_embeddings()
    plain = type(head) is torch.nn.Linear and head.bias is None
    plain = plain and not getattr(causal_lm.config, "final_logit_softcapping", None)
    return causal_lm.get_decoder(), head if plain else None


class ChunkedCrossEntropy(torch.autograd.Function):
    """Summed cross-entropy of ``hidden @ weight.T`` against ``targets`` (-100 skipped), chunk by chunk.

    Each chunk's logits are made in the matmul dtype (bf16 under autocast,
    where the weight is an fp32 master; else the hidden states' dtype) and
    upcast to fp32, as ``F.cross_entropy(logits.float())`` would see them; their
    loss and their gradient (softmax minus one-hot) are taken at once and the
    logits dropped. What backward needs, the gradients of the hidden states
    and of the weight, is kept instead: [tokens, hidden] and [vocab, hidden],
    never [tokens, vocab]. The matmuls are those of the full-logits loss.
    """

    @staticmethod
    def forward(ctx, hidden, weight, targets, chunk_tokens: int):
        dtype = matmul_dtype(hidden)
        loss = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_hidden = torch.empty_like(hidden) if ctx.needs_input_grad[0] else None
        grad_weight = torch.zeros_like(weight, dtype=torch.float32) if ctx.needs_input_grad[1] else None
        # Cast here, once, rather than by autocast per matmul; no-ops outside autocast.
        with torch.autocast(hidden.device.type, enabled=False):
            matrix = weight.to(dtype)
            for start in range(0, hidden.shape[0], chunk_tokens):
                rows = slice(start, start + chunk_tokens)
                chunk, target = hidden[rows].to(dtype), targets[rows]
                keep = (target != IGNORE_INDEX).unsqueeze(1)
                target = target.clamp(min=0).unsqueeze(1)
                logits = (chunk @ matrix.T).float()
                logsumexp = logits.logsumexp(dim=1, keepdim=True)
                loss += ((logsumexp - logits.gather(1, target)) * keep).sum()
                # d loss / d logits = softmax - one_hot, in place: the logits are done with. Skipped
                # rows are zeroed on the [chunk, hidden] side of the matmuls, not over the vocabulary.
                grad = logits.sub_(logsumexp).exp_()
                grad = grad.scatter_add_(1, target, torch.full_like(target, -1, dtype=grad.dtype)).to(dtype)
                if grad_hidden is not None:
                    grad_hidden[rows] = (grad @ matrix) * keep
                if grad_weight is not None:
                    grad_weight += grad.T @ (chunk * keep)
        ctx.weight_dtype = weight.dtype
        ctx.save_for_backward(grad_hidden, grad_weight)
        return loss

    @staticmethod
    def backward(ctx, grad_loss):
        grad_hidden, grad_weight = ctx.saved_tensors
        return (
            grad_hidden * grad_loss if grad_hidden is not None else None,
            (grad_weight * grad_loss).to(ctx.weight_dtype) if grad_weight is not None else None,
            None,
            None,
        )


def chunked_cross_entropy(hidden, weight, targets, chunk_tokens: int) -> torch.Tensor:
    """Summed cross-entropy of ``hidden @ weight.T`` against ``targets``; see :class:`ChunkedCrossEntropy`."""
    return ChunkedCrossEntropy.apply(hidden, weight, targets, chunk_tokens)


# -- checkpoints -------------------------------------------------------------------


def checkpoint_revision(path: Path | None) -> str:
    """The base model revision a checkpoint was trained from ("" for none, or an older checkpoint)."""
    if path is None or not (path / "job.json").is_file():
        return ""
    return json.loads((path / "job.json").read_text()).get("base_model_revision", "")


def checkpoint_step(path: Path | None) -> int:
    match = CHECKPOINT.match(path.name) if path is not None else None
    return int(match.group(1)) if match else 0


def latest_checkpoint(out: Path) -> Path | None:
    """The complete checkpoint with the highest step, or None."""
    found = [
        (int(match.group(1)), path)
        for path in out.iterdir()
        if (match := CHECKPOINT.match(path.name)) and (path / TRAINER_STATE).is_file()
    ]
    return max(found)[1] if found else None


def save_checkpoint(
    out: Path, step: int, model, tokenizer, optimizer, scheduler, spec, snapshot_sha256, fsdp: bool,
    reference: torch.Tensor | None = None,
) -> Path:  # fmt: skip
    """Weights (or LoRA adapter), tokenizer, optimizer/scheduler/RNG state, spec and card; every rank calls it.

    A DPO run's ``reference`` log-probabilities go with them, for a resume.

    Unsharded, the state is the same on every rank and rank 0 alone writes
    it. Sharded, every rank writes its shards of the weights and optimizer
    state under ``shards/`` (so ``output_dir`` must be one folder that all
    hosts share) and rank 0 the rest.
    """
    final_path = out / f"checkpoint-{step}"
    partial = out / f".checkpoint-{step}.partial"
    cuda_rng = cuda_rng_states()  # every rank takes part
    if not fsdp and rank() != 0:
        return final_path
    if rank() == 0:
        shutil.rmtree(partial, ignore_errors=True)
    if fsdp:
        barrier()  # no rank writes its shards into a folder that rank 0 is still clearing
        model_state, optimizer_state = get_state_dict(model, optimizer)
        dcp.save({"model": model_state, "optimizer": optimizer_state}, checkpoint_id=partial / SHARDS)
        if rank() != 0:
            return final_path
    else:
        model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    library = "peft" if spec.finetuning == "lora" else "transformers"  # a LoRA checkpoint holds the adapter
    write_metadata(partial, spec, snapshot_sha256, step=step, library=library)
    state = {
        "step": step,
        "optimizer": None if fsdp else optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": {
            "python": random.getstate(),
            "torch": torch.get_rng_state(),
            "cuda": cuda_rng,
        },
    }
    if reference is not None:
        torch.save(reference, partial / REFERENCE_LOGPS)
    torch.save(state, partial / TRAINER_STATE)
    shutil.rmtree(final_path, ignore_errors=True)
    partial.rename(final_path)
    prune_checkpoints(out, keep=spec.train.keep_checkpoints)
    return final_path


def load_trainer_state(path: Path, model, optimizer, scheduler, fsdp: bool) -> int:
    """Restore the optimizer, schedule and RNG (and a sharded checkpoint's weights); return the step reached.

    A sharded checkpoint loads into any number of ranks, sharded or not; one
    that holds a single replica only into an unsharded run.
    """
    state = torch.load(path / TRAINER_STATE, map_location="cpu", weights_only=True)
    if (path / SHARDS).is_dir():
        model_state, optimizer_state = get_state_dict(model, optimizer)
        shards = {"model": model_state, "optimizer": optimizer_state}
        dcp.load(shards, checkpoint_id=path / SHARDS)  # without a process group (one process) too
        set_state_dict(model, optimizer, model_state_dict=shards["model"], optim_state_dict=shards["optimizer"])
    elif fsdp:
        raise ValueError(f"{path.name} holds one replica, not shards: resume it with train.sharding \"none\"")
    else:
        optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    random.setstate(state["rng"]["python"])
    torch.set_rng_state(state["rng"]["torch"])
    restore_cuda_rng(state["rng"]["cuda"])
    return int(state["step"])


def cuda_rng_states() -> list[torch.Tensor]:
    """Each rank's own GPU's random state, by rank ([] without CUDA); every rank must call it.

    Only its own device: all devices' states (``get_rng_state_all``) would not
    load on a host with fewer GPUs, and would give rank r the state that
    rank 0 saw on device r, not rank r's.
    """
    if not torch.cuda.is_available():
        return []
    state = torch.cuda.get_rng_state()
    if not dist.is_initialized():
        return [state]
    states = [None] * dist.get_world_size()
    dist.all_gather_object(states, state)
    return states


def restore_cuda_rng(states: list[torch.Tensor]) -> None:
    """This rank's state from :func:`cuda_rng_states`, into its own GPU; rank 0's when the world size changed."""
    if not torch.cuda.is_available() or not states:
        return
    torch.cuda.set_rng_state(states[rank()] if len(states) == world_size() else states[0])


def prune_checkpoints(out: Path, keep: int) -> None:
    found = sorted(
        (int(m.group(1)), path) for path in out.iterdir() if (m := CHECKPOINT.match(path.name))
    )
    for _, path in found[: max(0, len(found) - max(keep, 1))]:
        shutil.rmtree(path, ignore_errors=True)


def save_final(
    out: Path, model, tokenizer, spec: JobSpec, snapshot_sha256, summary: dict, state_dict: dict | None = None,
    *, dtype: torch.dtype = torch.float32,
) -> Path:  # fmt: skip
    """A plain transformers folder in the compute ``dtype``: LoRA is merged into the base weights.

    Trained with fp32 master weights and bf16 matmuls, the model is saved in
    bf16: half the size, what it computed in, and what users of a 7B expect;
    the card says so. ``state_dict`` is a sharded model's, gathered by
    :func:`gathered_state_dict`. The ``summary`` that marks the job done
    (:func:`finished_summary`) is written before the folder is renamed, so
    ``final/`` never appears without it.
    """
    final = out / "final"
    partial = out / ".final.partial"
    shutil.rmtree(partial, ignore_errors=True)
    if spec.finetuning == "lora":
        model = model.merge_and_unload()
    model.config.use_cache = True
    if state_dict is None:
        model = model.to(dtype)
    else:
        for name, tensor in state_dict.items():  # one tensor at a time, so the fp32 copy is freed as it goes
            state_dict[name] = tensor.to(dtype) if tensor.is_floating_point() else tensor
    model.save_pretrained(partial, state_dict=state_dict)
    if state_dict is not None:  # save_pretrained wrote the sharded (fp32) model's dtype
        model.config.dtype = dtype
        model.config.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    write_metadata(partial, spec, snapshot_sha256, step=summary["steps"], summary=summary, saved_dtype=dtype)
    (partial / SUMMARY).write_text(json.dumps(summary, indent=2))
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    return final


def write_metadata(
    folder: Path,
    spec: JobSpec,
    snapshot_sha256,
    *,
    step: int,
    summary: dict | None = None,
    library: str = "transformers",
    saved_dtype: torch.dtype = torch.float32,
) -> None:
    """The spec (with its TrainConfig) as JSON and a model card naming the data's partners."""
    (folder / "job.json").write_text(spec.to_json())
    card = model_card(spec, snapshot_sha256, step=step, summary=summary, library=library, saved_dtype=saved_dtype)
    (folder / "README.md").write_text(card)


def model_card(
    spec: JobSpec, snapshot_sha256, *, step: int, summary: dict | None = None, library: str = "transformers",
    saved_dtype: torch.dtype = torch.float32,
) -> str:  # fmt: skip
    cfg = spec.train
    trained = "the LoRA adapter" if spec.finetuning == "lora" else "the weights"
    precision = (
        f"Weights saved in {str(saved_dtype).removeprefix('torch.')}; during training {trained} and the AdamW "
        f"state were kept in float32 (master weights), forward and backward passes ran in the compute dtype "
        f"(bfloat16 on GPUs that support it; `bf16` below)."
    )
    partners = "\n".join(f"- {name}" for name in spec.partners) or "- (none recorded)"
    languages = ", ".join(spec.languages) if spec.languages else "all languages in the snapshot"
    hyper = "\n".join(f"| {key} | {value} |" for key, value in sorted(vars(cfg).items()))
    result = f"\nFinal loss: {summary['final_loss']} after {summary['steps']} steps.\n" if summary else ""
    return f"""---
base_model: {spec.base_model}
library_name: {library}
tags:
- occiportal
- {spec.method}
- {spec.finetuning}
---

# {spec.run_id} (step {step})

{METHOD_TITLES[spec.method]} ({spec.finetuning} fine-tuning)
of `{spec.base_model}` (revision `{spec.base_model_revision or "not pinned"}`) by Occiportal.

## Data

Snapshot `{spec.snapshot_name or spec.snapshot_dir}`, manifest sha256 `{snapshot_sha256 or "not pinned"}`;
languages: {languages}.

Partners whose contributions are in this snapshot:

{partners}

## Training

{precision}

| hyper-parameter | value |
|---|---|
{hyper}
{result}"""
