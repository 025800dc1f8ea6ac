"""Near-duplicate lookup benchmark: one submission's bands against a band index of 1 M vs N stored records.

The stored signatures are synthetic (uniform 64-bit keys, 14 per record,
as band_keys makes them) and written straight into one sorted run of the
index (annotation/dedup), partition by partition, never ingested. A
10,000-record submission (140,000 keys, one of them planted: a stored
record's band) is then looked up with ``BandIndex.first_owners``, as
``near_duplicates_mark`` does. Target: the lookup against N = 100 M within
2× of the lookup against 1 M.

Warm: the best of ``--repeats`` lookups after a first one. Cold: the run's
pages evicted from the page cache first (``posix_fadvise(DONTNEED)``, no
root needed), one lookup. Peak RSS counts the index pages mapped in.
Prints one JSON line last; the exit status is 1 when the planted
near-duplicate is not found. The index is deleted at the end.

    .venv/bin/python bench/near_duplicates.py --stored 100000000
    .venv/bin/python bench/near_duplicates.py --smoke    # seconds
"""

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from annotation.dedup.index import FENCE, BandIndex, band_keys, owner_keys  # noqa: E402

BANDS = 14
PER_SUBMISSION = 10_000  # synthetic submissions: record r is line r % 10,000 + 1 of submission r // 10,000 + 1
PARTITION_KEYS = 1 << 22


def build(folder: Path, stored: int, seed: int) -> BandIndex:
    """An index of one sorted run holding ``stored`` × BANDS uniform keys, written partition by partition."""
    shutil.rmtree(folder, ignore_errors=True)
    index, rng = BandIndex(folder), np.random.default_rng(seed)
    total = stored * BANDS
    parts = max(1, total // PARTITION_KEYS)
    counts = rng.multinomial(total, np.full(parts, 1 / parts))
    bounds = [part * 2**64 // parts for part in range(parts + 1)]

    def write(run: Path) -> None:
        with open(run / "keys.npy", "wb") as keys_file, open(run / "owners.npy", "wb") as owners_file:
            for handle in (keys_file, owners_file):
                np.lib.format.write_array_header_1_0(
                    handle, {"descr": "<u8", "fortran_order": False, "shape": (total,)}
                )
            fence, offset = [], 0
            for part, count in enumerate(counts.tolist()):
                low, high = bounds[part], bounds[part + 1] - 1
                keys = np.sort(rng.integers(low, high, size=count, dtype=np.uint64, endpoint=True))
                records = rng.integers(0, stored, size=count)
                submissions = (records // PER_SUBMISSION + 1).astype(np.uint64) << np.uint64(32)
                owners = owner_keys(0, records % PER_SUBMISSION + 1) | submissions
                keys.tofile(keys_file)
                owners.tofile(owners_file)
                fence.append(keys[(-offset) % FENCE :: FENCE])
                offset += count
        np.save(run / "fence.npy", np.concatenate(fence))

    with index.locked():
        index.add_sorted(write, total, [f"synthetic-{stored}"])
    return index


def submission_keys(index: BandIndex, records: int, seed: int) -> tuple[np.ndarray, int, int]:
    """``records`` × BANDS keys of a new submission, one of them a stored key: (keys, its position, its owner)."""
    rng = np.random.default_rng(seed + 1)
    keys = band_keys(rng.integers(-(2**63), 2**63 - 1, size=(records, BANDS), dtype=np.int64))
    run = index._runs()[0]
    stored_at = int(rng.integers(0, len(run.keys)))
    planted = int(rng.integers(0, len(keys)))
    keys[planted] = run.keys[stored_at]
    return keys, planted, int(run.owners[stored_at])


def evict(folder: Path) -> bool:
    """Drop the index's pages from the page cache; False where the kernel would not."""
    try:
        for path in folder.rglob("*.npy"):
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
        return True
    except (AttributeError, OSError):
        return False


def measure(folder: Path, stored: int, records: int, repeats: int, seed: int) -> dict:
    started = time.perf_counter()
    index = build(folder, stored, seed)
    built = time.perf_counter() - started
    keys, planted, owner = submission_keys(index, records, seed)
    cold = None
    if evict(folder):
        started = time.perf_counter()
        first = index.first_owners(keys)
        cold = time.perf_counter() - started
    else:
        first = index.first_owners(keys)
    warm = []
    for _ in range(repeats):
        started = time.perf_counter()
        first = index.first_owners(keys)
        warm.append(time.perf_counter() - started)
    found = int(first[planted]) == owner
    figures = {"stored": stored, "keys": stored * BANDS, "build_s": round(built, 1), "warm_s": round(min(warm), 4),
               "cold_s": cold and round(cold, 4), "bytes_on_disk": index.bytes_on_disk(), "planted_found": found}  # fmt: skip
    print(json.dumps(figures), file=sys.stderr)
    shutil.rmtree(folder)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stored", type=int, default=100_000_000, help="Records in the big index.")
    parser.add_argument("--base", type=int, default=1_000_000, help="Records in the small index.")
    parser.add_argument("--records", type=int, default=PER_SUBMISSION, help="Records of the submission looked up.")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=ROOT / "bench" / "out" / "near-duplicate-index")
    parser.add_argument("--smoke", action="store_true", help="10,000 vs 100,000 stored records, 1,000 looked up.")
    args = parser.parse_args()
    if args.smoke:
        args.base, args.stored, args.records, args.repeats = 10_000, 100_000, 1_000, 2
    small = measure(args.dir, args.base, args.records, args.repeats, seed=1)
    big = measure(args.dir, args.stored, args.records, args.repeats, seed=2)
    result = {
        "submission_records": args.records, "small": small, "big": big,
        "warm_ratio": round(big["warm_s"] / small["warm_s"], 2),
        "cold_ratio": big["cold_s"] and small["cold_s"] and round(big["cold_s"] / small["cold_s"], 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }  # fmt: skip
    print(json.dumps(result))
    if not (small["planted_found"] and big["planted_found"]):
        print("FAILED: the planted near-duplicate was not found", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
