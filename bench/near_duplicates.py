"""Near-duplicate lookup benchmark: one submission's bands against a band index of 1 M vs N stored records.

The stored signatures are synthetic (uniform 64-bit keys, 14 per record,
as band_keys makes them) and written straight into one sorted run of the
index (annotation/dedup), partition by partition through ``add_sorted``'s
block stream, never ingested. A 10,000-record submission (140,000 keys, one
of them planted: a stored record's band) is then looked up with
``BandIndex.first_owners``, as ``near_duplicates_mark`` does. Target: the
lookup against N = 100 M within 2× of the lookup against 1 M.

Both indexes are built first, then looked up. Cold (the run unmapped, the
files synced and their pages evicted with ``posix_fadvise(DONTNEED)``, no
root needed) twice: without the prefetch (``cold_unprefetched_s``, each page
read when the search first touches it: the code before the prefetch) and
with it (``cold_s``). Then warm, ``--repeats`` times interleaved small/big so
that the load of a shared machine falls on both, the median counting: as the
finish looks up (``warm_s``: at most a block of each run mapped, so every
lookup faults its pages in again from the page cache) and with the pages
kept mapped across lookups (``warm_kept_mapped_s``). Peak RSS counts the
index pages kept mapped. Prints one JSON line last; the exit status is 1
when the planted near-duplicate is not found. The index is deleted at the end.

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

from annotation.dedup import search  # noqa: E402
from annotation.dedup.index import BandIndex, band_keys, owner_keys, unmap_runs  # noqa: E402

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

    def blocks():  # each partition's keys sorted, the partitions in key order: one sorted stream
        for part, count in enumerate(counts.tolist()):
            keys = np.sort(rng.integers(bounds[part], bounds[part + 1] - 1, size=count, dtype=np.uint64, endpoint=True))
            records = rng.integers(0, stored, size=count)
            submissions = (records // PER_SUBMISSION + 1).astype(np.uint64) << np.uint64(32)
            yield keys, owner_keys(0, records % PER_SUBMISSION + 1) | submissions

    with index.locked():
        index.add_sorted(blocks(), total, [f"synthetic-{stored}"])
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
    unmap_runs()  # pages this process maps are not dropped
    os.sync()  # nor pages not yet written back
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


def lookup(index: BandIndex, keys: np.ndarray, unmap: bool = True) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    first = index.first_owners(keys, unmap=unmap)
    return time.perf_counter() - started, first


def measure(folder: Path, sizes: dict[str, int], records: int, repeats: int) -> dict:
    """Build an index per size, then time lookups in them: cold first, then warm, interleaved."""
    figures, indexes = {}, {}
    for seed, (name, stored) in enumerate(sizes.items(), 1):
        started = time.perf_counter()
        indexes[name] = build(folder / name, stored, seed)
        figures[name] = {"stored": stored, "keys": stored * BANDS, "build_s": round(time.perf_counter() - started, 1),
                         "bytes_on_disk": indexes[name].bytes_on_disk()}  # fmt: skip
        figures[name]["lookup"] = submission_keys(indexes[name], records, seed)
    for name, index in indexes.items():
        keys, planted, owner = figures[name].pop("lookup")
        # Cold twice: pages read as the search touches them (the code before the
        # read-ahead, the baseline), then every page asked for first.
        search.PREFETCH = False
        cold = evict(folder / name)
        serial, _first = lookup(index, keys)
        search.PREFETCH = True
        evict(folder / name)
        took, first = lookup(index, keys)
        figures[name] |= {"cold_s": cold and round(took, 4), "cold_unprefetched_s": cold and round(serial, 4),
                          "planted_found": int(first[planted]) == owner}  # fmt: skip
        figures[name]["lookup"] = keys
    # Warm: as the finish looks up (at most a block of each run mapped, so every
    # lookup faults its pages in again from the page cache), then with the pages
    # of the first lookup kept mapped (a long-lived reader repeating the same keys).
    # One way after the other: a lookup of the first way unmaps what the second keeps.
    # Written-back first and two lookups each before the clock: right after writing a
    # 22 GB index the page cache is still settling, and the first way measured paid for it.
    os.sync()
    for unmap, label in ((True, "warm"), (False, "warm_kept_mapped")):
        for name, index in indexes.items():
            figures[name][label] = []
            for _ in range(2):
                lookup(index, figures[name]["lookup"], unmap)
        for _ in range(repeats):
            for name, index in indexes.items():
                figures[name][label].append(lookup(index, figures[name]["lookup"], unmap)[0])
    for name in indexes:
        warm, kept = sorted(figures[name].pop("warm")), sorted(figures[name].pop("warm_kept_mapped"))
        figures[name] |= {"warm_s": round(warm[len(warm) // 2], 4), "warm_best_s": round(warm[0], 4),
                          "warm_kept_mapped_s": round(kept[len(kept) // 2], 4)}
        del figures[name]["lookup"]
        print(json.dumps(figures[name]), file=sys.stderr)
    shutil.rmtree(folder)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stored", type=int, default=100_000_000, help="Records in the big index.")
    parser.add_argument("--base", type=int, default=1_000_000, help="Records in the small index.")
    parser.add_argument("--records", type=int, default=PER_SUBMISSION, help="Records of the submission looked up.")
    parser.add_argument("--repeats", type=int, default=9, help="Warm lookups of each index, interleaved; the median counts.")
    parser.add_argument("--dir", type=Path, default=ROOT / "bench" / "out" / "near-duplicate-index")
    parser.add_argument("--smoke", action="store_true", help="10,000 vs 100,000 stored records, 1,000 looked up.")
    args = parser.parse_args()
    if args.smoke:
        args.base, args.stored, args.records, args.repeats = 10_000, 100_000, 1_000, 2
    figures = measure(args.dir, {"small": args.base, "big": args.stored}, args.records, args.repeats)
    small, big = figures["small"], figures["big"]
    result = {
        "submission_records": args.records, "small": small, "big": big,
        "warm_ratio": round(big["warm_s"] / small["warm_s"], 2),
        "warm_kept_mapped_ratio": round(big["warm_kept_mapped_s"] / small["warm_kept_mapped_s"], 2),
        "cold_ratio": big["cold_s"] and small["cold_s"] and round(big["cold_s"] / small["cold_s"], 2),
        "cold_unprefetched_ratio": big["cold_s"] and small["cold_s"]
        and round(big["cold_unprefetched_s"] / small["cold_s"], 2),
        "cold_speedup_big": big["cold_s"] and round(big["cold_unprefetched_s"] / big["cold_s"], 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }  # fmt: skip
    print(json.dumps(result))
    if not (small["planted_found"] and big["planted_found"]):
        print("FAILED: the planted near-duplicate was not found", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
