"""The band index: which stored record first had a MinHash band, without a B-tree of every band.

An LSM of immutable sorted runs on local disk (annotation.dedup.runs): a
run holds ``keys`` (uint64, the band number mixed into the band hash, so one
key space serves every band) and ``owners`` (uint64, ``(submission << 32) |
line``), sorted by key then owner, and a directory of where each key prefix
starts. A lookup sorts its keys, takes each one's bucket from the directory
and binary-searches that page of the mapped keys (annotation.dedup.search):
one page read per key and run, so its cost grows with the lookup and the
number of runs, not with the corpus. New keys are written as a new run,
sorted externally in bounded spills; when there are more than MAX_RUNS, the
smallest are merged into one by a streaming merge (compaction). Writing and
merging hold a few blocks in memory, whatever the sizes of runs and corpus.

``manifest.json`` lists the runs and the tags (signature files) each holds;
it is replaced atomically, so a reader sees the runs before or after a
write. Writers take ``locked()`` (an flock on the folder): one at a time.
The index is a cache: the Parquet signatures are the truth it is rebuilt from.
"""

import fcntl
import json
import os
import shutil
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .runs import Block, merge_runs, run_size, sort_external, write_run
from .search import MappedRun

MAX_RUNS = 12
_opened: dict[tuple[str, int, int], MappedRun] = {}
NO_OWNER = np.uint64(2**64 - 1)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SPILLS = "spills.tmp"


def band_keys(bands: np.ndarray) -> np.ndarray:
    """One uint64 key per band hash of an ``(n, bands)`` int64 matrix, row-major; band b's keys differ from band c's."""
    hashes = np.ascontiguousarray(bands, dtype=np.int64).view(np.uint64)
    numbers = (np.arange(hashes.shape[1], dtype=np.uint64) + np.uint64(1)) * _GOLDEN
    with np.errstate(over="ignore"):
        keys = hashes ^ numbers
        keys ^= keys >> np.uint64(31)  # splitmix64's finaliser: the xor stays well spread
        keys *= np.uint64(0xBF58476D1CE4E5B9)
        keys ^= keys >> np.uint64(27)
    return keys.reshape(-1)


def owner_keys(submission: int, lines: np.ndarray) -> np.ndarray:
    """``(submission << 32) | line``: ordering owners orders records by submission, then line."""
    return (np.uint64(submission) << np.uint64(32)) | np.asarray(lines, dtype=np.uint64)


def unmap_runs() -> None:
    """Drop this process's mappings of runs: pages no process maps can be evicted (a benchmark's cold lookup)."""
    _opened.clear()


class BandIndex:
    """The runs of one band scheme under ``root``; created on first write."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    @contextmanager
    def locked(self):
        """Hold the index's write lock (blocking): add runs and read-then-write only inside it."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield self
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def tags(self) -> set[str]:
        """The tags of every run: which signature files the index holds."""
        return {tag for run in self._manifest()["runs"] for tag in run["tags"]}

    def size(self) -> int:
        return sum(run["size"] for run in self._manifest()["runs"])

    def bytes_on_disk(self) -> int:
        return sum(f.stat().st_size for f in self.root.rglob("*.npy"))

    def add(self, batches: Iterable[Block], tags: list[str]) -> None:
        """Store the ``(keys, owners)`` pairs of ``batches`` (keys[i] seen first by owners[i]) as one new run.

        Call inside ``locked()``. The batches are sorted in spills of bounded
        size on disk, then merged into the run: memory does not grow with them.
        """
        spills = self.root / _SPILLS
        shutil.rmtree(spills, ignore_errors=True)
        try:
            runs = sort_external(batches, spills)
            self.add_sorted(merge_runs(runs), sum(map(run_size, runs)), tags)
        finally:
            shutil.rmtree(spills, ignore_errors=True)

    def add_sorted(self, blocks: Iterable[Block], size: int, tags: list[str]) -> None:
        """Store ``blocks`` (``size`` entries, sorted by key then owner) as one new run; inside ``locked()``."""
        self._write_run(blocks, size, tags, replaced=[])
        if len(self._manifest()["runs"]) > MAX_RUNS:
            self._compact()

    def first_owners(self, keys: np.ndarray, *, unmap: bool = True) -> np.ndarray:
        """The smallest owner stored with each key, NO_OWNER where none is.

        ``unmap``: keep at most a block of each run mapped (MappedRun.find);
        False keeps what the lookup read mapped, for a repeat of the same keys.
        """
        order = np.argsort(keys)  # equal keys get one answer, so their order does not matter (stable: 2.6× slower)
        ordered = keys[order]
        best = np.full(len(keys), NO_OWNER, dtype=np.uint64)
        for run in self._runs():
            run.prefetch_keys(ordered)
            at, hit = run.find(ordered, unmap)
            run.prefetch_owners(at[hit], at[hit] + 1)
            found = np.full(len(keys), NO_OWNER, dtype=np.uint64)
            found[hit] = run.owners_at(at[hit], unmap)
            np.minimum(best, found, out=best)
        result = np.empty_like(best)
        result[order] = best
        return result

    def matches(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every stored ``(position in keys, owner)`` pair whose key equals ``keys[position]``."""
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        positions, owners = [np.empty(0, dtype=np.int64)], [np.empty(0, dtype=np.uint64)]
        for run in self._runs():
            run.prefetch_keys(ordered)
            left = run.lower_bound(ordered)
            counts = run.upper_bound(ordered) - left
            run.prefetch_owners(left, left + counts)
            total = int(counts.sum())
            starts = np.repeat(left - (np.cumsum(counts) - counts), counts)
            positions.append(np.repeat(order, counts))
            owners.append(run.owners_at(starts + np.arange(total)))
        return np.concatenate(positions), np.concatenate(owners).astype(np.uint64)

    def clear(self) -> None:
        """Forget every run (before a rebuild); inside ``locked()``."""
        manifest = self._manifest()
        self._save({"runs": [], "next": manifest["next"]})
        for run in manifest["runs"]:
            shutil.rmtree(self.root / run["name"], ignore_errors=True)

    def _compact(self) -> None:
        # Merge the smallest runs: a big run is rewritten only when enough
        # small ones have grown to its size, so each key is rewritten about
        # log(corpus) times. The merge streams: memory holds a block of each.
        runs = sorted(self._manifest()["runs"], key=lambda run: run["size"])
        merged = runs[: len(runs) - MAX_RUNS // 2 + 1]
        blocks = merge_runs([self.root / run["name"] for run in merged])
        tags = sorted({tag for run in merged for tag in run["tags"]})
        self._write_run(blocks, sum(run["size"] for run in merged), tags, replaced=merged)

    def _write_run(self, blocks: Iterable[Block], size: int, tags: list[str], replaced: list[dict]) -> None:
        """Write a run from sorted ``blocks`` and list it in place of the runs ``replaced``, which are deleted."""
        manifest = self._manifest()
        name = f"run-{manifest['next']:08d}"
        staging = self.root / f"{name}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        write_run(staging, blocks, size)
        os.replace(staging, self.root / name)
        runs = [run for run in manifest["runs"] if run not in replaced]
        runs.append({"name": name, "size": size, "tags": sorted(tags)})
        self._save({"runs": runs, "next": manifest["next"] + 1})
        for run in replaced:  # a reader that mapped them keeps its mapping
            shutil.rmtree(self.root / run["name"], ignore_errors=True)

    def _runs(self) -> list[MappedRun]:
        # A compaction may delete a run between reading the manifest and
        # opening it: the manifest read again names its replacement.
        for _attempt in range(5):
            names = [run["name"] for run in self._manifest()["runs"]]
            current = {str(self.root / name) for name in names}
            for key in [key for key in _opened if Path(key[0]).parent == self.root and key[0] not in current]:
                del _opened[key]  # merged away: let its files go
            try:
                return [self._open(name) for name in names]
            except FileNotFoundError:
                continue
        raise RuntimeError(f"the band index at {self.root} keeps changing under the reader")

    def _open(self, name: str) -> MappedRun:
        # Runs are immutable: one opened (mapped) serves
        # every later lookup of the process, whose pages then stay mapped.
        # Keyed by inode too: a rebuilt index reuses run names.
        folder = self.root / name
        stat = (folder / "keys.npy").stat()
        key = (str(folder), stat.st_ino, stat.st_mtime_ns)
        if key not in _opened:
            if len(_opened) > 4 * MAX_RUNS:
                _opened.clear()
            _opened[key] = MappedRun.open(folder)
        return _opened[key]

    def _manifest(self) -> dict:
        try:
            return json.loads((self.root / "manifest.json").read_text())
        except FileNotFoundError:
            return {"runs": [], "next": 0}

    def _save(self, manifest: dict) -> None:
        staging = self.root / "manifest.json.tmp"
        staging.write_text(json.dumps(manifest))
        os.replace(staging, self.root / "manifest.json")
