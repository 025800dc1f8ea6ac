"""The band index: which stored record first had a MinHash band, without a B-tree of every band.

An LSM of immutable sorted runs on local disk. A run is a folder of two
parallel memory-mapped arrays: ``keys.npy`` (uint64, the band number mixed
into the band hash, so one key space serves every band) and ``owners.npy``
(uint64, ``(submission << 32) | line``), sorted by key then owner, and
``directory.npy``, held in memory: where the keys of each top-bits prefix
start, with about BUCKET keys (a 4 KiB page) a prefix, as keys are hashes.
A lookup sorts its keys, takes each one's bucket from the directory and
binary-searches that page of the mapped keys: one page read per key and
run, so its cost grows with the lookup and the number of runs, not with
the corpus. New keys are written as a new run; when there
are more than MAX_RUNS, the smallest are merged into one (compaction).

``manifest.json`` lists the runs and the tags (signature files) each holds;
it is replaced atomically, so a reader sees the runs before or after a
write. Writers take ``locked()`` (an flock on the folder): one at a time.
The index is a cache: the Parquet signatures are the truth it is rebuilt from.
"""

import fcntl
import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_RUNS = 12
_opened: dict[tuple[str, int, int], "_Run"] = {}
BUCKET = 512  # keys per directory entry, on average: 4 KiB, a page
_BLOCK = 2048  # lookup keys searched together
NO_OWNER = np.uint64(2**64 - 1)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


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


@dataclass
class _Run:
    keys: np.ndarray
    owners: np.ndarray
    directory: np.ndarray

    def lower_bound(self, ordered: np.ndarray) -> np.ndarray:
        """The first position of each key of ``ordered`` (sorted) or above, as np.searchsorted(side="left")."""
        # Keys before the bucket's start have a smaller prefix, keys from the
        # next bucket's start a larger one: the answer lies between.
        bucket = _prefix(ordered, len(self.directory) - 1)
        low, high = self.directory[bucket], self.directory[bucket + 1]
        while True:
            open_ = low < high
            if not open_.any():
                return low
            middle = (low + high) // 2
            below = np.zeros(len(ordered), dtype=bool)
            below[open_] = self.keys[middle[open_]] < ordered[open_]
            low = np.where(open_ & below, middle + 1, low)
            high = np.where(open_ & ~below, middle, high)


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

    def add(self, keys: np.ndarray, owners: np.ndarray, tags: list[str]) -> None:
        """Store ``keys[i]`` as seen first by ``owners[i]``, as one new run; call inside ``locked()``."""
        order = np.lexsort((owners, keys))
        self.add_sorted(lambda run: _write_arrays(run, keys[order], owners[order]), len(keys), tags)

    def add_sorted(self, write, size: int, tags: list[str]) -> None:
        """Store a run ``write(folder)`` writes itself, sorted (keys.npy, owners.npy); inside ``locked()``."""
        manifest = self._manifest()
        name = f"run-{manifest['next']:08d}"
        staging = self.root / f"{name}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        write(staging)
        os.replace(staging, self.root / name)
        manifest["runs"].append({"name": name, "size": size, "tags": sorted(tags)})
        manifest["next"] += 1
        self._save(manifest)
        if len(manifest["runs"]) > MAX_RUNS:
            self._compact()

    def first_owners(self, keys: np.ndarray) -> np.ndarray:
        """The smallest owner stored with each key, NO_OWNER where none is."""
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        best = np.full(len(keys), NO_OWNER, dtype=np.uint64)
        for run in self._runs():
            # Block by block: a block's pages stay cached through the search's steps.
            at = np.concatenate([run.lower_bound(ordered[i : i + _BLOCK]) for i in range(0, len(keys), _BLOCK)] or [[]])
            at = at.astype(np.int64)
            inside = at < len(run.keys)
            hit = np.zeros(len(keys), dtype=bool)
            hit[inside] = run.keys[at[inside]] == ordered[inside]
            found = np.full(len(keys), NO_OWNER, dtype=np.uint64)
            found[hit] = run.owners[at[hit]]
            np.minimum(best, found, out=best)
        result = np.empty_like(best)
        result[order] = best
        return result

    def matches(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every stored ``(position in keys, owner)`` pair whose key equals ``keys[position]``."""
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        positions, owners = [], []
        for run in self._runs():
            left = np.searchsorted(run.keys, ordered, side="left")
            counts = np.searchsorted(run.keys, ordered, side="right") - left
            total = int(counts.sum())
            starts = np.repeat(left - (np.cumsum(counts) - counts), counts)
            positions.append(np.repeat(order, counts))
            owners.append(np.asarray(run.owners[starts + np.arange(total)]))
        if not positions:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.uint64)
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
        # log(corpus) times.
        manifest = self._manifest()
        runs = sorted(manifest["runs"], key=lambda run: run["size"])
        merged, kept = runs[: len(runs) - MAX_RUNS // 2 + 1], runs[len(runs) - MAX_RUNS // 2 + 1 :]
        opened = [self._open(run["name"]) for run in merged]
        keys = np.concatenate([run.keys for run in opened])
        owners = np.concatenate([run.owners for run in opened])
        order = np.lexsort((owners, keys))
        name = f"run-{manifest['next']:08d}"
        staging = self.root / f"{name}.tmp"
        staging.mkdir(parents=True, exist_ok=True)
        _write_arrays(staging, keys[order], owners[order])
        os.replace(staging, self.root / name)
        tags = sorted({tag for run in merged for tag in run["tags"]})
        runs = [run for run in manifest["runs"] if run in kept] + [{"name": name, "size": len(keys), "tags": tags}]
        self._save({"runs": runs, "next": manifest["next"] + 1})
        for run in merged:  # a reader that mapped them keeps its mapping
            shutil.rmtree(self.root / run["name"], ignore_errors=True)

    def _runs(self) -> list[_Run]:
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

    def _open(self, name: str) -> _Run:
        # Runs are immutable: one opened (mapped, its directory read) serves
        # every later lookup of the process, whose pages then stay mapped.
        # Keyed by inode too: a rebuilt index reuses run names.
        folder = self.root / name
        stat = (folder / "keys.npy").stat()
        key = (str(folder), stat.st_ino, stat.st_mtime_ns)
        if key not in _opened:
            if len(_opened) > 4 * MAX_RUNS:
                _opened.clear()
            _opened[key] = _Run(
                np.load(folder / "keys.npy", mmap_mode="r"), np.load(folder / "owners.npy", mmap_mode="r"),
                np.load(folder / "directory.npy"),
            )
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


def _write_arrays(folder: Path, keys: np.ndarray, owners: np.ndarray) -> None:
    np.save(folder / "keys.npy", np.ascontiguousarray(keys, dtype=np.uint64))
    np.save(folder / "owners.npy", np.ascontiguousarray(owners, dtype=np.uint64))
    buckets = directory_buckets(len(keys))
    np.save(folder / "directory.npy", np.append(bucket_starts(keys, buckets, 0, buckets), len(keys)))


def directory_buckets(size: int) -> int:
    """How many prefix buckets the directory of a run of ``size`` keys has: a power of 2, about BUCKET keys each."""
    return 1 << min(32, (size // BUCKET).bit_length())


def bucket_starts(keys: np.ndarray, buckets: int, first: int, last: int) -> np.ndarray:
    """Where in sorted ``keys`` buckets ``first`` to ``last`` - 1 (of ``buckets``) start."""
    shift = 64 - (buckets.bit_length() - 1)
    starts = np.arange(first, last, dtype=np.uint64)
    starts = starts << np.uint64(shift) if shift < 64 else np.zeros_like(starts)
    return np.searchsorted(keys, starts, side="left")


def _prefix(keys: np.ndarray, buckets: int) -> np.ndarray:
    shift = 64 - (buckets.bit_length() - 1)
    return (keys >> np.uint64(shift)).astype(np.int64) if shift < 64 else np.zeros(len(keys), dtype=np.int64)

