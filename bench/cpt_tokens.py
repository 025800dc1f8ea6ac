"""CPT data: the old ``pack_cpt`` (every token a Python int, in lists) vs the token cache (files, memory-mapped).

    python bench/cpt_tokens.py                  # about 10 M tokens
    python bench/cpt_tokens.py --tokens 50e6
    python bench/cpt_tokens.py --smoke          # tiny: does it run, do both make the same blocks

A snapshot of generated documents (``--shards`` Parquet shards in two
languages) is tokenised by a small byte-level BPE (training/jobs/tiny.py)
both ways, each in a fresh child process: ``pack_cpt`` over the rows, as
``load_examples`` did, and ``load_examples`` now (token files under a
temporary folder, then :class:`PackedBlocks`). Reported: tokens/s, the
peak RSS growth over the child's RSS after its imports, and whether the
blocks are the same (a sha256 over every block). A second cache load, as a
resumed attempt makes, is timed too. The cache's growth is a constant (one
batch of documents as Python ids, Arrow's buffers for a row group, the
tokenizer's threads: about 60-100 MiB on the 2-core machine, the same at
1 M and 5 M tokens), the old path's about 60 bytes a token. The last line
printed is one JSON object; different blocks, a child that fails, or (at
full size) a cache whose memory grows half as much as the old path's are
errors, and the exit status 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from outcome import Errors, finish  # noqa: E402

WORDS_PER_DOC = 300
SEQ_LEN = 1024


def rss_kib(field: str) -> int:
    """VmRSS (now) or VmHWM (peak) of this process, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def write_snapshot(root: Path, tokens: int, shards: int, seed: int = 0) -> list[str]:
    """Generated documents of ~WORDS_PER_DOC pseudo-words, spread over ``shards`` shards of two languages."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    syllables = ["ka", "ri", "mon", "te", "lu", "sa", "ber", "gen", "do", "vi", "na", "schu", "ção", "ü", "ei", "str"]
    words = ["".join(rng.choices(syllables, k=rng.randint(1, 4))) for _ in range(3000)]
    docs = max(1, tokens // WORDS_PER_DOC)  # about a token a word with the 2,048-token vocabulary
    for shard in range(shards):
        language = ("de", "pt")[shard % 2]
        texts = [" ".join(rng.choices(words, k=WORDS_PER_DOC)) for _ in range(docs // shards or 1)]
        path = root / language / f"train-{shard // 2:05d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"kind": ["text"] * len(texts), "language": [language] * len(texts), "text": texts}), path)
    return words


def blocks_sha256(blocks) -> str:
    digest = hashlib.sha256()
    for index in range(len(blocks)):
        block = blocks[index]
        digest.update(json.dumps([block["input_ids"], block["labels"]]).encode())
    return digest.hexdigest()


def child(path: str, snapshot: str, model: str, cache: str) -> dict:
    """One measurement, in this (fresh) process: ``path`` is "old", "cache" or "reuse"."""
    from transformers import AutoTokenizer

    from training.jobs.data import iter_rows, load_examples, pack_cpt, snapshot_files

    tokenizer = AutoTokenizer.from_pretrained(model)
    base = rss_kib("VmRSS")
    started = time.perf_counter()
    if path == "old":
        blocks = pack_cpt(tokenizer, (row.get("text") for row in iter_rows(snapshot_files(snapshot))), SEQ_LEN)
    else:
        blocks = load_examples(tokenizer, snapshot, "cpt", SEQ_LEN, cache_dir=cache)
    seconds = time.perf_counter() - started
    peak = rss_kib("VmHWM")
    if path == "old":
        tokens = sum(sum(1 for label in block["labels"] if label != -100) for block in blocks)
    else:
        tokens = blocks.tokens
    return {"seconds": seconds, "tokens": tokens, "blocks": len(blocks), "rss_growth_mib": (peak - base) / 1024,
            "sha256": blocks_sha256(blocks)}  # fmt: skip


def measure(path: str, snapshot: Path, model: Path, cache: Path, errors: Errors) -> dict | None:
    command = [sys.executable, __file__, "--child", path, str(snapshot), str(model), str(cache)]
    done = subprocess.run(command, capture_output=True, text=True)
    if not errors.check(done.returncode == 0, f"{path}: the child process failed"):
        print(done.stderr[-3000:], file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=float, default=10e6, help="about this many tokens in the snapshot")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--smoke", action="store_true", help="tiny: about 50,000 tokens, 3 shards")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    tokens, shards = (50_000, 3) if args.smoke else (int(args.tokens), args.shards)
    errors = Errors()
    with tempfile.TemporaryDirectory(prefix="bench-cpt-tokens-") as tmp:
        root = Path(tmp)
        from training.jobs.tiny import create_tiny_model

        words = write_snapshot(root / "snapshot", tokens, shards)
        model = create_tiny_model(root / "model", [" ".join(words[i : i + 50]) for i in range(0, len(words), 50)],
                                  vocab_size=2048, hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1)  # fmt: skip
        old = measure("old", root / "snapshot", model, root / "cache", errors)
        cache = measure("cache", root / "snapshot", model, root / "cache", errors)
        reuse = measure("reuse", root / "snapshot", model, root / "cache", errors)
    report = {"tokens": (old or cache or {}).get("tokens"), "shards": shards, "seq_len": SEQ_LEN}
    for name, figures in (("pack_cpt", old), ("cache", cache), ("cache_reused", reuse)):
        if figures:
            report[name] = {
                "tokens_per_second": round(figures["tokens"] / figures["seconds"]),
                "seconds": round(figures["seconds"], 3),
                "peak_rss_growth_mib": round(figures["rss_growth_mib"], 1),
            }
    if old and cache and reuse:
        errors.check(old["sha256"] == cache["sha256"] == reuse["sha256"], "the cache's blocks differ from pack_cpt's")
        errors.check(old["tokens"] == cache["tokens"], "the cache holds another number of tokens than pack_cpt's stream")
        report["rss_growth_ratio"] = round(cache["rss_growth_mib"] / max(old["rss_growth_mib"], 1e-9), 3)
        if not args.smoke:  # a few MiB of noise swamp the smoke size's figures
            errors.check(cache["rss_growth_mib"] < old["rss_growth_mib"] / 2, "the cache's memory grows like pack_cpt's")
    finish(report, errors, smoke=args.smoke)


if __name__ == "__main__":
    main()
