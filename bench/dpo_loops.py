"""bench/train.py's DPO half: the job's own DPO loop against TRL's DPOTrainer, on the same model and pairs.

Both train the same freshly made model on the same preference pairs, rendered
with the same chat template (TRL's conversational layout; the job's reader
renders the snapshot's string prompts as a user turn), with the same batch of
pairs, AdamW settings, schedule, beta, precision and ``torch.compile``
decision. Throughput is steady state, pairs per second over the optimizer
steps after the first ``log_every``, for both alike; the wall figures count
everything from loading to the saved final model, the reference pass
included (the run is one epoch: a reference pass scores every pair, so it
weighs more in a shorter run). On a
CPU shared with other work, wall-clock rates swing with the neighbours' load,
so the same steady-state window is also measured in this process's CPU time
(pairs per CPU-second; on CUDA, where the host mostly waits, read the wall rate).

TRL is measured twice: as it runs by default (``ref_model`` a second copy of
the model, a forward pass of it at every step) and with
``precompute_ref_log_probs``, the job's way (one pass before training).
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

import pyarrow.parquet as pq
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

from outcome import Errors
from training.jobs.contract import JobSpec, TrainConfig
from training.jobs.data import iter_rows, row_pairs, snapshot_files
from training.jobs.loading import attention_implementation, pick_device
from training.jobs.train import compile_wanted, enable_tf32, run_training
from training.snapshots.writer import table_for


def write_preferences(root: Path, docs: list[str], pairs: int, seed: int = 0) -> Path:
    """A snapshot of ``pairs`` preference rows in the snapshot writer's schema: a document's continuation is chosen
    over the same words shuffled."""
    rng = random.Random(seed)
    prompts, chosen, rejected = [], [], []
    for doc in (docs * (pairs // len(docs) + 1))[:pairs]:
        words = doc.split()
        prompts.append(" ".join(words[:12]) + "?")
        chosen.append(" ".join(words[12:40]))
        rejected.append(" ".join(rng.sample(words[12:40], len(words[12:40]))))
    folder = root / "preferences" / "xx"
    folder.mkdir(parents=True)
    columns = {"kind": ["preference"] * pairs, "language": ["xx"] * pairs, "prompt": prompts, "chosen": chosen,
               "rejected": rejected}  # fmt: skip
    pq.write_table(table_for(columns, pairs), folder / "train-00000.parquet")
    return folder.parent


def job_pairs_per_second(model: Path, snapshot: Path, out: Path, cfg: TrainConfig, errors: Errors) -> dict:
    stamped = []
    started = time.perf_counter()
    spec = JobSpec(run_id="bench-dpo", kind="train", method="dpo", base_model=str(model), output_dir=str(out),
                   snapshot_dir=str(snapshot), train=cfg)  # fmt: skip
    run_training(spec, lambda event: stamped.append((time.perf_counter(), time.process_time(), event.to_dict())))
    wall = time.perf_counter() - started
    done = [e for _, _, e in stamped if e["event"] == "done"]
    errors.check(bool(done) and done[0]["steps"] == cfg.max_steps, "dpo job: did not finish its steps")
    progress = [(t, cpu, e) for t, cpu, e in stamped if e["event"] == "progress"]
    errors.check(all(e["reward_accuracy"] is not None for _, _, e in progress), "dpo job: no reward accuracy reported")
    (t0, cpu0, first), (t1, cpu1, last) = progress[0], progress[-1]
    pairs = cfg.batch_size * cfg.grad_accum
    return {
        "pairs_per_second": (last["step"] - first["step"]) * pairs / (t1 - t0),
        "pairs_per_cpu_second": (last["step"] - first["step"]) * pairs / (cpu1 - cpu0),
        "tokens_per_second": sum(e["tokens_per_second"] for _, _, e in progress[1:]) / max(1, len(progress) - 1),
        "wall_pairs_per_second": cfg.max_steps * pairs / wall,
        "reward_accuracy": last["reward_accuracy"],
    }


class _StepTimes(TrainerCallback):
    def __init__(self):
        self.times: list[float] = []
        self.cpu_times: list[float] = []

    def on_step_end(self, args, state, control, **kwargs):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.times.append(time.perf_counter())
        self.cpu_times.append(time.process_time())


def trl_pairs_per_second(model_dir: Path, snapshot: Path, out: Path, cfg: TrainConfig, errors: Errors, *,
                         precompute: bool) -> dict:  # fmt: skip
    """TRL's DPOTrainer on the snapshot's pairs; None figures (and an error) where TRL is not installed."""
    try:
        from datasets import Dataset
        from trl import DPOConfig, DPOTrainer
    except ImportError:
        errors.check(False, "trl is not installed (pip install -e .[dev])")
        return dict.fromkeys(("pairs_per_second", "pairs_per_cpu_second", "wall_pairs_per_second"), float("nan"))
    started = time.perf_counter()
    device, dtype = pick_device(cfg.bf16)
    enable_tf32(device)
    rows = [
        {"prompt": [{"role": "user", "content": p}], "chosen": [{"role": "assistant", "content": c}],
         "rejected": [{"role": "assistant", "content": r}]}
        for row in iter_rows(snapshot_files(snapshot)) for p, c, r in row_pairs(row)
    ]  # fmt: skip
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    # As the job does: the weights in the training dtype (bf16 on a GPU), AdamW straight on them.
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=dtype, attn_implementation=attention_implementation(device), use_safetensors=True
    )
    steps = _StepTimes()
    args = DPOConfig(
        output_dir=str(out), per_device_train_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
        max_steps=cfg.max_steps, learning_rate=cfg.learning_rate, lr_scheduler_type="cosine",
        warmup_steps=math.ceil(cfg.warmup_ratio * cfg.max_steps), weight_decay=cfg.weight_decay,
        adam_beta1=cfg.adam_betas[0], adam_beta2=cfg.adam_betas[1], max_grad_norm=cfg.max_grad_norm, beta=cfg.dpo_beta, max_length=cfg.seq_len,
        precompute_ref_log_probs=precompute, seed=cfg.seed, use_cpu=device.type == "cpu",
        optim="adamw_torch_fused" if device.type == "cuda" else "adamw_torch",
        torch_compile=compile_wanted(cfg.torch_compile, device), logging_steps=10**6, save_strategy="no",
        report_to=[], disable_tqdm=True, dataloader_num_workers=0,
    )  # fmt: skip
    trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                         callbacks=[steps])  # fmt: skip
    result = trainer.train()
    trainer.save_model(str(out / "final"))  # as the job saves its final model
    wall = time.perf_counter() - started
    errors.check(result.global_step == cfg.max_steps, "trl: did not finish its steps")
    pairs = cfg.batch_size * cfg.grad_accum
    first = min(cfg.log_every, len(steps.times) - 1) - 1  # from the end of step log_every, as the job's first event
    return {
        "pairs_per_second": (len(steps.times) - 1 - first) * pairs / (steps.times[-1] - steps.times[first]),
        "pairs_per_cpu_second": (len(steps.times) - 1 - first) * pairs / (steps.cpu_times[-1] - steps.cpu_times[first]),
        "wall_pairs_per_second": cfg.max_steps * pairs / wall,
    }
