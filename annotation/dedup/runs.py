"""Sorted runs on disk, written, read and merged block by block: memory bounded by blocks, not by runs.

A run is a folder of three ``.npy`` files: ``keys`` and ``owners`` (uint64,
parallel, sorted by key then owner) and ``directory`` (int64): where the keys
of each top-bits prefix start, a power of 2 of prefixes chosen for about
BUCKET keys each. ``RunWriter`` writes all three as sorted blocks arrive (the
size is given up front, so every header is known); ``run_blocks`` reads a
run back block by block with plain reads, not a mapping, so a merge holds no
more than its blocks; ``merge_sorted`` merges k sorted block streams into
one; ``sort_external`` sorts unsorted batches of any total size into spilled
runs of at most SPILL entries, merged in passes of at most FAN_IN.

This is the external sort of datatrove's MinHash buckets stage and of
FineWeb, in numpy: each step is a vectorised sort of at most a few blocks.
"""

import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

BUCKET = 512  # keys per directory entry, on average: 4 KiB, a page
MERGE = 1 << 18  # entries a merge buffers, over all the runs it reads: 4 MiB of keys and owners
SPILL = 1 << 18  # entries sorted in memory at once, then spilled: 4 MiB
FAN_IN = 64  # runs merged at once; more are merged in passes
FILES = ("keys", "owners", "directory")

Block = tuple[np.ndarray, np.ndarray]


class RunWriter:
    """Writes a run of ``size`` entries into ``folder`` from sorted blocks; ``close`` checks the count."""

    def __init__(self, folder: Path, size: int):
        folder.mkdir(parents=True, exist_ok=True)
        self.size, self.written, self.buckets = size, 0, directory_buckets(size)
        self._next_bucket = 0  # the first bucket whose start is not written yet
        self._files = {name: open(folder / f"{name}.npy", "wb") for name in FILES}
        shapes = {"keys": ("<u8", size), "owners": ("<u8", size), "directory": ("<i8", self.buckets + 1)}
        for name, (descr, length) in shapes.items():
            header = {"descr": descr, "fortran_order": False, "shape": (length,)}
            np.lib.format.write_array_header_1_0(self._files[name], header)

    def write(self, keys: np.ndarray, owners: np.ndarray) -> None:
        """Append a block that sorts after everything written so far."""
        if not len(keys):
            return
        # A bucket starts in the first block whose last key reaches its prefix.
        last = int(key_prefix(keys[-1:], self.buckets)[0])
        if last >= self._next_bucket:
            starts = bucket_starts(keys, self.buckets, self._next_bucket, last + 1) + self.written
            starts.astype("<i8").tofile(self._files["directory"])
            self._next_bucket = last + 1
        np.asarray(keys, dtype="<u8").tofile(self._files["keys"])
        np.asarray(owners, dtype="<u8").tofile(self._files["owners"])
        self.written += len(keys)

    def close(self) -> None:
        try:
            if self.written != self.size:
                raise ValueError(f"a run of {self.size} entries was given {self.written}")
            rest = self.buckets + 1 - self._next_bucket  # buckets past the last key, and the end
            np.full(rest, self.size, dtype="<i8").tofile(self._files["directory"])
        finally:
            for handle in self._files.values():
                handle.close()


def write_run(folder: Path, blocks: Iterable[Block], size: int) -> None:
    """Write the sorted ``blocks`` (``size`` entries in all) as a run in ``folder``."""
    writer = RunWriter(folder, size)
    try:
        for keys, owners in blocks:
            writer.write(keys, owners)
    finally:
        writer.close()


def run_size(folder: Path) -> int:
    with open(folder / "keys.npy", "rb") as handle:
        return npy_header(handle)[0][0]


def merge_runs(folders: list[Path]) -> Iterator[Block]:
    """The entries of the runs in ``folders``, merged, with MERGE entries buffered in all."""
    block = max(1, MERGE // max(1, len(folders)))
    return merge_sorted([run_blocks(folder, block) for folder in folders])


def run_blocks(folder: Path, block: int) -> Iterator[Block]:
    """The run's entries in order, ``block`` at a time, read from the files (no mapping: nothing stays resident)."""
    with open(folder / "keys.npy", "rb") as keys_file, open(folder / "owners.npy", "rb") as owners_file:
        npy_header(keys_file), npy_header(owners_file)  # past the headers, to the data
        while True:
            keys = np.fromfile(keys_file, dtype="<u8", count=block)
            if not len(keys):
                return
            yield keys, np.fromfile(owners_file, dtype="<u8", count=len(keys))


class _Source:
    def __init__(self, blocks: Iterator[Block]):
        self.blocks, self.done = blocks, False
        self.keys = self.owners = np.empty(0, dtype=np.uint64)

    def refill(self) -> None:
        block = next(self.blocks, None)
        if block is None:
            self.done = True
        else:
            self.keys, self.owners = np.concatenate([self.keys, block[0]]), np.concatenate([self.owners, block[1]])

    def take(self, count: int) -> Block:
        taken = self.keys[:count], self.owners[:count]
        self.keys, self.owners = self.keys[count:], self.owners[count:]
        return taken


def merge_sorted(streams: Iterable[Iterator[Block]]) -> Iterator[Block]:
    """One stream of sorted blocks from several, each sorted by key then owner.

    Every step emits, from each source's buffered block, the entries whose
    key is below the smallest last key among the sources that may hold more:
    no entry still unread can sort before them.
    """
    sources = [_Source(iter(stream)) for stream in streams]
    while True:
        for source in sources:
            while not source.done and not len(source.keys):
                source.refill()
        sources = [source for source in sources if len(source.keys)]
        if not sources:
            return
        more = [source for source in sources if not source.done]
        if more:
            bound = min(source.keys[-1] for source in more)
            cuts = [int(np.searchsorted(source.keys, bound, side="left")) for source in sources]
        else:
            cuts = [len(source.keys) for source in sources]
        if not any(cuts):  # a block of one key only: read further where it ends
            for source in more:
                if source.keys[-1] == bound:
                    source.refill()
            continue
        pieces = [source.take(cut) for source, cut in zip(sources, cuts) if cut]
        keys, owners = np.concatenate([p[0] for p in pieces]), np.concatenate([p[1] for p in pieces])
        order = np.lexsort((owners, keys))
        yield keys[order], owners[order]


def sort_external(batches: Iterable[Block], folder: Path) -> list[Path]:
    """Sorted runs under ``folder`` holding the entries of ``batches`` (unsorted), at most FAN_IN of them."""
    folder.mkdir(parents=True, exist_ok=True)
    runs: list[Path] = []
    pending: list[Block] = []
    held = 0

    def spill() -> None:
        keys = np.concatenate([b[0] for b in pending]).astype(np.uint64, copy=False)
        owners = np.concatenate([b[1] for b in pending]).astype(np.uint64, copy=False)
        order = np.lexsort((owners, keys))
        runs.append(folder / f"spill-{len(runs):06d}")
        write_run(runs[-1], [(keys[order], owners[order])], len(keys))
        pending.clear()

    for keys, owners in batches:
        pending.append((keys, owners))
        held += len(keys)
        if held >= SPILL:
            spill()
            held = 0
    if pending:
        spill()
    while len(runs) > FAN_IN:  # a pass merges groups of FAN_IN runs into one each
        groups = [runs[i : i + FAN_IN] for i in range(0, len(runs), FAN_IN)]
        runs = [_merge_group(group, folder / f"pass-{len(runs)}-{n:06d}") for n, group in enumerate(groups)]
    return runs


def _merge_group(group: list[Path], target: Path) -> Path:
    write_run(target, merge_runs(group), sum(map(run_size, group)))
    for run in group:
        shutil.rmtree(run)
    return target


def directory_buckets(size: int) -> int:
    """How many prefix buckets the directory of a run of ``size`` keys has: a power of 2, about BUCKET keys each."""
    return 1 << min(32, (size // BUCKET).bit_length())


def bucket_starts(keys: np.ndarray, buckets: int, first: int, last: int) -> np.ndarray:
    """Where in sorted ``keys`` buckets ``first`` to ``last`` - 1 (of ``buckets``) start."""
    shift = 64 - (buckets.bit_length() - 1)
    starts = np.arange(first, last, dtype=np.uint64)
    starts = starts << np.uint64(shift) if shift < 64 else np.zeros_like(starts)
    return np.searchsorted(keys, starts, side="left")


def key_prefix(keys: np.ndarray, buckets: int) -> np.ndarray:
    """The bucket of each key: its top bits, as many as ``buckets`` (a power of 2) needs."""
    shift = 64 - (buckets.bit_length() - 1)
    return (keys >> np.uint64(shift)).astype(np.int64) if shift < 64 else np.zeros(len(keys), dtype=np.int64)


def npy_header(handle) -> tuple:
    """``(shape, fortran_order, dtype)`` of an ``.npy`` file, leaving ``handle`` at its data."""
    if np.lib.format.read_magic(handle) == (1, 0):
        return np.lib.format.read_array_header_1_0(handle)
    return np.lib.format.read_array_header_2_0(handle)
