"""Parquet reading within the expansion budget vs plain 1,000-row batches.

Two files of 50,000 rows written by pyarrow with its defaults (the text
columns' dictionaries fall back to plain pages, as real text does): flat
documents of about 2 kB, and two-turn conversations. Each is read to
items by ``annotation.ingest.parquet.parquet_items`` and, as the baseline,
by ``iter_batches(1000)`` + ``to_pylist`` (how ingest read Parquet before
it counted bytes). Interleaved repeats, medians. Then the few-hundred-byte
dictionary bomb (1.2 GiB decoded) is refused and the peak memory of that
refusal is reported (Python + Arrow allocations).
"""

import argparse
import io
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from annotation.ingest.containers import Budget, Limits, Member  # noqa: E402
from annotation.ingest.errors import SubmissionRefused  # noqa: E402
from annotation.ingest.parquet import parquet_items  # noqa: E402
from outcome import Errors, finish  # noqa: E402

LIMITS = Limits(max_expanded_bytes=20 * 1024**3, max_ratio=200, max_members=10)
RECORD = 8 * 1024**2
_POOLS_KEPT = []


def _parquet(rows: list[dict]) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer)
    return buffer.getvalue()


def _files(rows: int) -> dict[str, bytes]:
    rng = random.Random(1)
    words = [f"wort{i}" for i in range(5000)]
    text = lambda n: " ".join(rng.choices(words, k=n))  # noqa: E731
    return {
        "documents": _parquet([{"text": text(300), "id": i} for i in range(rows)]),
        "conversations": _parquet([{"messages": [{"role": "user", "content": text(150)},
                                                 {"role": "assistant", "content": text(150)}]} for _ in range(rows)]),
    }  # fmt: skip


def _baseline(data: bytes) -> int:
    return sum(len(batch.to_pylist()) for batch in pq.ParquetFile(io.BytesIO(data)).iter_batches(batch_size=1000))


def _budgeted(data: bytes) -> int:
    member = Member("", "parquet", io.BytesIO(data), Budget(LIMITS, "bench.parquet", len(data)))
    return sum(1 for _ in parquet_items(member, RECORD))


def _seconds(read, data: bytes, rows: int, errors: Errors) -> float:
    start = time.perf_counter()
    errors.check(read(data) == rows, f"{read.__name__} did not read every row")
    return time.perf_counter() - start


def _bomb_peak() -> dict:
    column = pa.DictionaryArray.from_arrays(pa.array([0] * 600, pa.int32()), pa.array(["x" * 2 * 1024**2]))
    figures = {}
    for compression in ("zstd", "none"):
        buffer = io.BytesIO()
        pq.write_table(pa.table({"text": column}), buffer, compression=compression, store_schema=False)
        data = buffer.getvalue()
        default = pa.default_memory_pool()
        pool = pa.proxy_memory_pool(default)
        _POOLS_KEPT.append(pool)  # Arrow buffers point at their pool: it must outlive them
        pa.set_memory_pool(pool)
        tracemalloc.start()
        try:
            _budgeted(data)
            refused = False
        except SubmissionRefused:
            refused = True
        finally:
            peak = tracemalloc.get_traced_memory()[1] + pool.max_memory()
            tracemalloc.stop()
            pa.set_memory_pool(default)  # before the proxy is freed
        figures[compression] = {"file_bytes": len(data), "refused": refused, "peak_mib": round(peak / 1024**2, 1)}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("repeats", nargs="?", type=int, default=5)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--smoke", action="store_true", help="2,000 rows, one repeat: seconds, no figure")
    args = parser.parse_args()
    rows, repeats = (2_000, 1) if args.smoke else (args.rows, args.repeats)
    errors, result = Errors(), {}
    for name, data in _files(rows).items():
        times = {"baseline": [], "budgeted": []}
        for _ in range(repeats):
            times["baseline"].append(_seconds(_baseline, data, rows, errors))
            times["budgeted"].append(_seconds(_budgeted, data, rows, errors))
        medians = {key: statistics.median(values) for key, values in times.items()}
        result[name] = {"megabytes": round(len(data) / 1e6, 1), **{k: round(v, 3) for k, v in medians.items()},
                        "ratio": round(medians["budgeted"] / medians["baseline"], 2)}  # fmt: skip
        print(name, result[name], flush=True)
    result["bomb"] = _bomb_peak()
    for compression, figures in result["bomb"].items():
        errors.check(figures["refused"], f"the {compression} dictionary bomb was not refused")
    finish(result, errors, smoke=args.smoke)


if __name__ == "__main__":
    main()
