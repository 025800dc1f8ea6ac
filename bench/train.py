"""Benchmark the training job's loop against a plain transformers loop, its DPO loop against TRL's, and evaluation speed.

    python bench/train.py                 # CPU: a tiny Mistral
    python bench/train.py --gpu           # CUDA: a 125M-parameter Mistral in bf16, with MFU
    python bench/train.py --smoke         # 4 steps, one repeat: does it run (nothing downloaded)

Both loops train the same freshly made model on the same packed batches with
the same optimizer (fused AdamW on CUDA), schedule, precision, attention
kernel, TF32 setting and ``torch.compile`` decision (TrainConfig.torch_compile:
on for CUDA with a C compiler, off on CPU); the plain loop compiles the whole
model, loss included, the job its decoder. What differs is the loop: the plain
one calls ``model(**batch).loss``, the job takes the loss from the hidden
states in chunks. The repeats are interleaved and the median is reported.
Throughput is steady state: tokens/s over the steps after the first
``log_every`` (compilation, allocator and cuBLAS heuristics excluded), for
both loops alike. Evaluation speed is multiple-choice items/s and perplexity
documents/s of the evaluation job's scorer. The last line printed is one JSON
object with every figure; a job that does not finish its steps or a loss that
is not finite is an error, named, and the exit status 1.

DPO (bench/dpo_loops.py): the job's ``dpo`` method against TRL's
``DPOTrainer`` on the same model and preference pairs, pairs/s in steady
state, TRL as it runs by default (a reference copy, a forward pass of it each
step) and with its reference log-probabilities precomputed as the job does.

MFU (``--gpu``) counts FLOPs per trained token as 6·N (N: the parameters that
multiply, i.e. all but the input embedding) plus attention's 12·L·H·T (L
layers, H hidden size, T sequence length; PaLM, appendix B), divided by the
card's peak dense bf16 FLOP/s (``--peak-flops``; H100 SXM: 989e12).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from dpo_loops import job_pairs_per_second, trl_pairs_per_second, write_preferences  # noqa: E402
from outcome import Errors, finish  # noqa: E402
from training.jobs.contract import JobSpec, TrainConfig  # noqa: E402
from training.jobs.data import Batches, load_examples  # noqa: E402
from training.jobs.evaluate import Scorer, score_multiple_choice, score_perplexity  # noqa: E402
from training.jobs.loading import attention_implementation, pick_device  # noqa: E402
from training.jobs.tiny import create_tiny_model  # noqa: E402
from training.jobs.train import compile_wanted, enable_tf32, make_optimizer, make_scheduler, run_training  # noqa: E402

CPU_MODEL = {"hidden_size": 128, "num_layers": 2, "num_heads": 4, "num_kv_heads": 2, "max_position_embeddings": 512}
GPU_MODEL = {
    "hidden_size": 768, "num_layers": 12, "num_heads": 12, "num_kv_heads": 4, "intermediate_size": 2048,
    "max_position_embeddings": 2048, "model_vocab_size": 32000,
}  # fmt: skip
SYLLABLES = "ka ri to men sa lu ve dor an schi ber ga nu pe lo zu tra ein der und mar qui son".split()


def synthetic_docs(count: int, words: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    vocabulary = ["".join(rng.choices(SYLLABLES, k=rng.randint(1, 3))) for _ in range(3000)]
    return [" ".join(rng.choices(vocabulary, k=words)) + "." for _ in range(count)]


def make_fixture(root: Path, args) -> tuple[Path, Path]:
    docs = synthetic_docs(args.docs, args.words)
    model_kwargs = GPU_MODEL if args.gpu else CPU_MODEL
    model = create_tiny_model(root / "model", docs[:2000], vocab_size=args.vocab, **model_kwargs)
    snapshot = root / "snapshot"
    (snapshot / "xx").mkdir(parents=True)
    table = pa.table({"kind": ["text"] * len(docs), "language": ["xx"] * len(docs), "text": docs})
    pq.write_table(table, snapshot / "xx" / "train-00000.parquet")
    return model, snapshot


def job_tokens_per_second(model: Path, snapshot: Path, out: Path, cfg: TrainConfig, errors: Errors) -> float:
    events = []
    run_training(
        JobSpec(
            run_id="bench", kind="train", base_model=str(model), output_dir=str(out),
            snapshot_dir=str(snapshot), train=cfg,
        ),  # fmt: skip
        lambda event: events.append(event.to_dict()),
    )
    done = [e for e in events if e["event"] == "done"]
    errors.check(bool(done) and done[0]["steps"] == cfg.max_steps, "job: did not finish its steps")
    windows = [e["tokens_per_second"] for e in events if e["event"] == "progress"][1:]
    return statistics.fmean(windows)


def plain_tokens_per_second(model_dir: Path, snapshot: Path, cfg: TrainConfig, errors: Errors) -> float:
    """What a reader would write with transformers alone: model(**batch, labels=...).loss.backward()."""
    device, dtype = pick_device(cfg.bf16)
    enable_tf32(device)
    torch.manual_seed(cfg.seed)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    examples = load_examples(tokenizer, snapshot, "cpt", cfg.seq_len)
    batches = Batches(examples, cfg.batch_size, cfg.seed, tokenizer.pad_token_id).iterate(0)
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=dtype, attn_implementation=attention_implementation(device), use_safetensors=True
    ).to(device)
    model.config.use_cache = False
    if compile_wanted(cfg.torch_compile, device):
        model.compile()
    model.train()
    optimizer = make_optimizer(model, cfg, device)
    scheduler = make_scheduler(optimizer, cfg, cfg.max_steps)
    tokens, started = 0, None
    for step in range(cfg.max_steps):
        if step == cfg.log_every:  # steady state from here on, as in the job's later progress windows
            _sync(device)
            tokens, started = 0, time.perf_counter()
        batch = {k: v.to(device) for k, v in next(batches).items()}
        loss = model(**batch).loss  # batch carries labels
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += int(batch["attention_mask"].sum())
    errors.check(math.isfinite(loss.item()), "plain loop: loss not finite")
    return tokens / (time.perf_counter() - started)


def eval_items_per_second(model_dir: Path, docs: list[str], args) -> dict:
    device, dtype = pick_device("auto")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=dtype, attn_implementation=attention_implementation(device), use_safetensors=True
    ).to(device).eval()
    scorer = Scorer(model, tokenizer, max_length=args.seq_len, batch_size=args.eval_batch)
    rng = random.Random(1)
    items = [
        {"question": doc[:200], "choices": [" ".join(rng.sample(doc.split(), 3)) for _ in range(4)], "answer": 0}
        for doc in docs[: args.eval_items]
    ]
    score_multiple_choice(scorer, items[:4])  # warm-up
    _sync(device)
    started = time.perf_counter()
    score_multiple_choice(scorer, items)
    _sync(device)
    mc = len(items) / (time.perf_counter() - started)
    started = time.perf_counter()
    score_perplexity(scorer, docs[: args.eval_items])
    _sync(device)
    ppl = args.eval_items / (time.perf_counter() - started)
    return {"mc_items_per_second": round(mc, 2), "ppl_docs_per_second": round(ppl, 2)}


def flops_per_token(model_dir: Path, seq_len: int) -> tuple[int, int, str]:
    """(parameters, training FLOPs per token, the sum spelled out): 6·N_matmul + 12·L·H·T."""
    model = AutoModelForCausalLM.from_pretrained(model_dir, use_safetensors=True)
    parameters = sum(p.numel() for p in model.parameters())
    embedding = model.get_input_embeddings().weight
    tied = embedding is model.get_output_embeddings().weight
    matmul = parameters - (0 if tied else embedding.numel())  # the input embedding is a lookup
    layers, hidden = model.config.num_hidden_layers, model.config.hidden_size
    formula = f"6*{matmul} + 12*{layers}*{hidden}*{seq_len}"
    return parameters, 6 * matmul + 12 * layers * hidden * seq_len, formula


def dpo_figures(job: list[dict], trl: list[dict], trl_pre: list[dict], cfg: TrainConfig) -> dict:
    """Medians over the repeats of the DPO loops' figures, and the job's ratios to TRL's."""
    def median(runs, key):
        return statistics.median(run[key] for run in runs)

    job_pps, trl_pps, pre_pps = (median(runs, "pairs_per_second") for runs in (job, trl, trl_pre))
    job_cpu, trl_cpu, pre_cpu = (median(runs, "pairs_per_cpu_second") for runs in (job, trl, trl_pre))
    return {
        "dpo_pairs_per_batch": cfg.batch_size,
        "dpo_job_pairs_per_second": round(job_pps, 2),
        "dpo_job_tokens_per_second": round(median(job, "tokens_per_second"), 1),
        "dpo_trl_pairs_per_second": round(trl_pps, 2),
        "dpo_trl_precomputed_pairs_per_second": round(pre_pps, 2),
        "dpo_job_vs_trl": round(job_pps / trl_pps, 3),
        "dpo_job_vs_trl_precomputed": round(job_pps / pre_pps, 3),
        "dpo_job_pairs_per_cpu_second": round(job_cpu, 2),
        "dpo_trl_pairs_per_cpu_second": round(trl_cpu, 2),
        "dpo_trl_precomputed_pairs_per_cpu_second": round(pre_cpu, 2),
        "dpo_job_vs_trl_cpu": round(job_cpu / trl_cpu, 3),
        "dpo_job_vs_trl_precomputed_cpu": round(job_cpu / pre_cpu, 3),
        "dpo_job_wall_pairs_per_second": round(median(job, "wall_pairs_per_second"), 2),
        "dpo_trl_wall_pairs_per_second": round(median(trl, "wall_pairs_per_second"), 2),
        "dpo_trl_precomputed_wall_pairs_per_second": round(median(trl_pre, "wall_pairs_per_second"), 2),
        "dpo_job_final_reward_accuracy": median(job, "reward_accuracy"),
    }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpu", action="store_true", help="~125M-parameter model in bf16 on CUDA")
    parser.add_argument("--peak-flops", type=float, default=989e12, help="peak dense bf16 FLOP/s (H100 SXM: 989e12)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    parser.add_argument("--smoke", action="store_true", help="4 steps, 1 repeat, 1 thread: does it run")
    args = parser.parse_args()
    if args.gpu and not torch.cuda.is_available():
        parser.error("--gpu needs CUDA")
    # One thread for a smoke run: on a busy CI machine two threads wait on each other several times longer.
    torch.set_num_threads(1 if args.smoke else args.threads)
    gpu = args.gpu
    args.seq_len = 1024 if gpu else 128
    args.docs, args.words = (4000, 200) if gpu else (600, 60)
    args.vocab = 8000 if gpu else 1024
    args.eval_items, args.eval_batch = (256, 32) if gpu else (32, 8)
    steps = args.steps or (40 if gpu else 24)
    if args.smoke:
        args.repeats, args.eval_items, steps = 1, 4, 4
    log_every = max(1, steps // 4)
    cfg = TrainConfig(
        learning_rate=3e-4, max_steps=steps, batch_size=16 if gpu else 8, seq_len=args.seq_len, warmup_ratio=0.1,
        log_every=log_every, save_every=10**9, heartbeat_seconds=3600, seed=0,
    )  # fmt: skip

    with tempfile.TemporaryDirectory(prefix="occiportal-bench-") as scratch:
        root = Path(scratch)
        model, snapshot = make_fixture(root, args)
        parameters, flops, formula = flops_per_token(model, cfg.seq_len)
        job, plain, errors = [], [], Errors()
        for repeat in range(args.repeats):
            job.append(job_tokens_per_second(model, snapshot, root / f"run-{repeat}", cfg, errors))
            plain.append(plain_tokens_per_second(model, snapshot, cfg, errors))
            print(f"repeat {repeat}: job {job[-1]:.0f} tok/s, plain {plain[-1]:.0f} tok/s", file=sys.stderr)
        evaluation = eval_items_per_second(model, synthetic_docs(args.eval_items, args.words, seed=9), args)
        dpo_cfg = dataclasses.replace(cfg, batch_size=cfg.batch_size // 2, learning_rate=1e-5)  # pairs: 2 sequences each
        # One epoch, so that the job's reference pass (and TRL's, precomputed) scores what the steps train on.
        preferences = write_preferences(root, synthetic_docs(args.docs, args.words, seed=5), steps * dpo_cfg.batch_size)
        dpo, trl, trl_pre = [], [], []
        for repeat in range(args.repeats):
            dpo.append(job_pairs_per_second(model, preferences, root / f"dpo-{repeat}", dpo_cfg, errors))
            trl.append(trl_pairs_per_second(model, preferences, root / f"trl-{repeat}", dpo_cfg, errors, precompute=False))
            trl_pre.append(trl_pairs_per_second(model, preferences, root / f"trl-pre-{repeat}", dpo_cfg, errors,
                                                precompute=True))  # fmt: skip
            print(f"repeat {repeat}: dpo job {dpo[-1]['pairs_per_second']:.1f} pairs/s "
                  f"({dpo[-1]['pairs_per_cpu_second']:.1f}/cpu-s), trl {trl[-1]['pairs_per_second']:.1f} "
                  f"({trl[-1]['pairs_per_cpu_second']:.1f}), trl precomputed {trl_pre[-1]['pairs_per_second']:.1f} "
                  f"({trl_pre[-1]['pairs_per_cpu_second']:.1f})", file=sys.stderr)  # fmt: skip

    device, dtype = pick_device("auto")
    job_tps, plain_tps = statistics.median(job), statistics.median(plain)
    result = {
        "bench": "train",
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "dtype": str(dtype).removeprefix("torch."),
        "torch": torch.__version__,
        "parameters": parameters,
        "seq_len": cfg.seq_len,
        "batch_size": cfg.batch_size,
        "steps": steps,
        "repeats": args.repeats,
        "job_tokens_per_second": round(job_tps, 1),
        "plain_tokens_per_second": round(plain_tps, 1),
        "job_vs_plain": round(job_tps / plain_tps, 3),
        "compiled": compile_wanted(cfg.torch_compile, device),
        "loss_chunk_tokens": cfg.loss_chunk_tokens,
        "flops_per_token": flops,
        "flops_per_token_formula": formula,
        **evaluation,
        **dpo_figures(dpo, trl, trl_pre, dpo_cfg),
    }
    if gpu:
        result["peak_flops"] = args.peak_flops
        result["job_mfu"] = round(flops * job_tps / args.peak_flops, 4)
        result["plain_mfu"] = round(flops * plain_tps / args.peak_flops, 4)
        print(f"MFU = ({formula}) FLOP/token * tokens/s / {args.peak_flops:.4g} FLOP/s: "
              f"job {result['job_mfu']:.1%}, plain {result['plain_mfu']:.1%}", file=sys.stderr)  # fmt: skip
    finish(result, errors, smoke=args.smoke)


if __name__ == "__main__":
    main()
