"""Looking keys up in a memory-mapped run: a directory-guided binary search, with its pages read ahead.

All three files of a run are mapped, the directory too: a process holds
none of it in its own memory, whatever the corpus size, and the pages it
reads are the kernel's page cache, shared and evictable.

A cold lookup's cost is one random page read per key (the keys are hashes,
so once a run has more pages than the lookup has keys, no two keys share a
page). Read one by one, each read waits for the disk; ``prefetch`` first
asks the kernel for every page the lookup will touch (``POSIX_FADV_WILLNEED``,
adjacent pages together, in requests of at most the kernel's read-ahead
size, the most it reads per call), so the disk works on them all at once,
and the search that follows finds them in memory. Where most of those pages
are in memory already (a warm index), the requests, about 1 µs each, are
skipped: a sample of the pages is checked with ``mincore`` first.

Pages a process has touched stay mapped in it, and count in its resident
size, until unmapped: by default a lookup unmaps each block's pages after
the block (``find``), so a lookup maps at most a block of each run.
"""

import ctypes
import ctypes.util
import mmap
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .runs import npy_header, key_prefix

_BLOCK = 2048  # lookup keys searched together: their pages stay cached through the search's steps
_SAMPLE = 64  # pages checked for residency before a prefetch
_RESIDENT = 0.9  # the share of the sample in memory above which no prefetch is asked for
_PAGE = mmap.PAGESIZE
_AROUND = max(_PAGE, 1 << 16)  # the kernel's fault_around_bytes
_DENSE = 8  # one wanted page in this many or more: the whole span is read (_prefetch)
_REQUEST = (128 << 10) // _PAGE  # pages asked for per call: what the kernel reads ahead at most, by default
PREFETCH = True  # off: every page is read when the search first touches it (benchmarks compare both)


@dataclass
class MappedRun:
    folder: Path
    keys: np.ndarray
    owners: np.ndarray
    directory: np.ndarray
    maps: list[mmap.mmap]

    @classmethod
    def open(cls, folder: Path) -> "MappedRun":
        mapped = [_map(folder / f"{name}.npy") for name in ("keys", "owners", "directory")]
        return cls(folder, *(array for array, _ in mapped), [mapping for _, mapping in mapped])

    def lower_bound(self, ordered: np.ndarray, unmap: bool = True) -> np.ndarray:
        """The first position of each key of ``ordered`` (sorted) or above, as np.searchsorted(side="left")."""
        return self.find(ordered, unmap)[0]

    def find(self, ordered: np.ndarray, unmap: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``(lower_bound(ordered), whether the key there equals the one looked up)``.

        With ``unmap``, the pages each block of keys touched are unmapped after
        it: the process maps at most a block's pages of the run. Without, they
        stay mapped for the next lookup (a warm repeat of the same keys takes
        no page faults), and the process's resident size grows with the pages read.
        """
        at, hit = np.empty(len(ordered), dtype=np.int64), np.zeros(len(ordered), dtype=bool)
        for i in range(0, len(ordered), _BLOCK):
            block = ordered[i : i + _BLOCK]
            at[i : i + _BLOCK] = found = self._lower_bound(block, unmap)
            inside = found < len(self.keys)
            hit[i : i + _BLOCK][inside] = self.keys[found[inside]] == block[inside]
            if unmap:
                self._unmap(0, int(found[0]), int(found[-1]) + 1)
        return at, hit

    def owners_at(self, positions: np.ndarray, unmap: bool = True) -> np.ndarray:
        """The owners at ``positions`` (ascending); ``unmap`` as for ``find``."""
        found = np.empty(len(positions), dtype=np.uint64)
        for i in range(0, len(positions), _BLOCK):
            block = positions[i : i + _BLOCK]
            found[i : i + _BLOCK] = self.owners[block]
            if unmap:
                self._unmap(1, int(block[0]), int(block[-1]) + 1)
        return found

    def upper_bound(self, ordered: np.ndarray, unmap: bool = True) -> np.ndarray:
        """As np.searchsorted(side="right"): the lower bound of the next key (the run's end for the largest)."""
        top = ordered == np.uint64(2**64 - 1)
        bound = self.lower_bound(np.where(top, ordered, ordered + np.uint64(1)), unmap)
        bound[top] = len(self.keys)
        return bound

    def prefetch_keys(self, ordered: np.ndarray) -> None:
        """Ask for the pages of the buckets that hold ``ordered``'s keys."""
        if not len(ordered):
            return
        buckets = key_prefix(ordered, len(self.directory) - 1)
        buckets = buckets[np.concatenate([[True], buckets[1:] != buckets[:-1]])]  # sorted: no hashing, as np.unique did
        self._prefetch("keys", self.keys, np.asarray(self.directory[buckets]), np.asarray(self.directory[buckets + 1]))

    def prefetch_owners(self, starts: np.ndarray, ends: np.ndarray) -> None:
        """Ask for the pages of the owners at positions ``starts[i]`` to ``ends[i]`` - 1."""
        self._prefetch("owners", self.owners, starts, ends)

    def _lower_bound(self, ordered: np.ndarray, unmap: bool) -> np.ndarray:
        # Keys before the bucket's start have a smaller prefix, keys from the
        # next bucket's start a larger one: the answer lies between.
        bucket = key_prefix(ordered, len(self.directory) - 1)
        low, high = np.asarray(self.directory[bucket]), np.asarray(self.directory[bucket + 1])
        span = int(low[0]), int(high[-1])
        while True:
            open_ = low < high
            if not open_.any():
                if unmap:
                    self._unmap(2, int(bucket[0]), int(bucket[-1]) + 2)
                    self._unmap(0, *span)
                return low
            middle = (low + high) // 2
            below = np.zeros(len(ordered), dtype=bool)
            below[open_] = self.keys[middle[open_]] < ordered[open_]
            low = np.where(open_ & below, middle + 1, low)
            high = np.where(open_ & ~below, middle, high)

    def _unmap(self, which: int, first: int, end: int) -> None:
        """Drop this process's mapping of entries ``first`` to ``end`` - 1 of array ``which`` (keys, owners, directory).

        The pages stay in the page cache; only this process's resident size
        drops, so what a lookup maps is bounded by a block, whatever the run's size.
        """
        if end <= first:
            return
        array, mapping = (self.keys, self.owners, self.directory)[which], self.maps[which]
        offset = _offset(array)
        # A fault also maps the cached pages around it (fault-around, 64 KiB): they go too.
        start = max(0, (offset + first * 8) // _AROUND * _AROUND)
        stop = min(len(mapping), -(-(offset + end * 8) // _AROUND) * _AROUND)
        mapping.madvise(mmap.MADV_DONTNEED, start, stop - start)

    def _prefetch(self, name: str, array: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> None:
        wanted = ends > starts
        if not PREFETCH or not wanted.any() or not hasattr(os, "posix_fadvise"):
            return
        offset = _offset(array)
        first = (offset + starts[wanted] * 8) // _PAGE
        last = (offset + ends[wanted] * 8 - 1) // _PAGE
        if _resident_share(array, first) >= _RESIDENT:
            return
        # Ranges arrive in file order; adjacent or overlapping ones are asked for together. Where
        # they are dense (one in ``_DENSE`` pages or more) the whole span is: fewer, larger reads
        # (a 10 M run, 40 % of its pages wanted: 0.66 s cold instead of 1.16 s). Sparse, pages read
        # for nothing between them cost more than the requests saved (measured at 100 M).
        span = int(last.max()) - int(first[0]) + 1
        gap = span if len(first) * _DENSE >= span else 0
        begins = np.flatnonzero(np.concatenate([[True], first[1:] > np.maximum.accumulate(last)[:-1] + 1 + gap]))
        ends_at = np.concatenate([begins[1:], [len(first)]]) - 1
        fd = os.open(self.folder / f"{name}.npy", os.O_RDONLY)
        try:
            for low, high in zip(first[begins].tolist(), np.maximum.accumulate(last)[ends_at].tolist()):
                # The kernel reads at most its largest request (often 128 KiB to 4 MiB) per call.
                for start in range(low, high + 1, _REQUEST):
                    length = min(_REQUEST, high + 1 - start) * _PAGE
                    os.posix_fadvise(fd, start * _PAGE, length, os.POSIX_FADV_WILLNEED)
        finally:
            os.close(fd)


def _libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        return libc if hasattr(libc, "mincore") else None
    except OSError:
        return None


_LIBC = _libc()


def _map(path: Path) -> tuple[np.ndarray, mmap.mmap]:
    """The array of an ``.npy`` file, over a read-only mapping of the whole file."""
    with open(path, "rb") as handle:
        shape, _fortran, dtype = npy_header(handle)
        offset = handle.tell()
        mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    return np.frombuffer(mapping, dtype=dtype, count=shape[0], offset=offset), mapping


def _offset(array: np.ndarray) -> int:
    """Where ``array``'s data starts in its file (``_map`` maps files from their start)."""
    return array.ctypes.data - _base(array)


def _base(array: np.ndarray) -> int:
    """The address of the mapping under ``array``."""
    return np.frombuffer(array.base, dtype=np.uint8, count=1).ctypes.data


def _resident_share(array: np.ndarray, pages: np.ndarray) -> float:
    """The share of a sample of the file's ``pages`` (of a mapped ``array``) in the page cache; 0 if unknown."""
    if _LIBC is None or not len(pages):
        return 0.0
    start = _base(array)
    sample = pages[:: max(1, len(pages) // _SAMPLE)][:_SAMPLE]
    vector, resident = ctypes.create_string_buffer(1), 0
    for page in sample.tolist():
        if _LIBC.mincore(ctypes.c_void_p(start + page * _PAGE), ctypes.c_size_t(_PAGE), vector) != 0:
            return 0.0
        resident += vector.raw[0] & 1
    return resident / len(sample)
