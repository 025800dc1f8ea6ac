"""Looking keys up in a memory-mapped run: a directory-guided binary search, with its pages read ahead.

All three files of a run are mapped, the directory too: a process holds
none of it in its own memory, whatever the corpus size, and the pages it
reads are the kernel's page cache, shared and evictable.

A cold lookup's cost is one random page read per key (the keys are hashes,
so once a run has more pages than the lookup has keys, no two keys share a
page). Read one by one, each read waits for the disk; ``prefetch`` first
asks the kernel for every page the lookup will touch (``POSIX_FADV_WILLNEED``,
runs of adjacent pages in one call), so the disk works on them all at once,
and the search that follows finds them in memory. Where most of those pages
are in memory already (a warm index), the requests, about 1 µs each, are
skipped: a sample of the pages is checked with ``mincore`` first.
"""

import ctypes
import ctypes.util
import mmap
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .runs import _prefix

_BLOCK = 2048  # lookup keys searched together: their pages stay cached through the search's steps
_SAMPLE = 64  # pages checked for residency before a prefetch
_RESIDENT = 0.9  # the share of the sample in memory above which no prefetch is asked for
_PAGE = mmap.PAGESIZE


@dataclass
class MappedRun:
    folder: Path
    keys: np.ndarray
    owners: np.ndarray
    directory: np.ndarray

    @classmethod
    def open(cls, folder: Path) -> "MappedRun":
        arrays = [np.load(folder / f"{name}.npy", mmap_mode="r") for name in ("keys", "owners", "directory")]
        return cls(folder, *arrays)

    def lower_bound(self, ordered: np.ndarray) -> np.ndarray:
        """The first position of each key of ``ordered`` (sorted) or above, as np.searchsorted(side="left")."""
        return np.concatenate(
            [self._lower_bound(ordered[i : i + _BLOCK]) for i in range(0, len(ordered), _BLOCK)] or [np.empty(0, int)]
        ).astype(np.int64)

    def upper_bound(self, ordered: np.ndarray) -> np.ndarray:
        """As np.searchsorted(side="right"): the lower bound of the next key (the run's end for the largest)."""
        top = ordered == np.uint64(2**64 - 1)
        bound = self.lower_bound(np.where(top, ordered, ordered + np.uint64(1)))
        bound[top] = len(self.keys)
        return bound

    def prefetch_keys(self, ordered: np.ndarray) -> None:
        """Ask for the pages of the buckets that hold ``ordered``'s keys."""
        if not len(ordered):
            return
        buckets = np.unique(_prefix(ordered, len(self.directory) - 1))
        self._prefetch("keys", self.keys, np.asarray(self.directory[buckets]), np.asarray(self.directory[buckets + 1]))

    def prefetch_owners(self, starts: np.ndarray, ends: np.ndarray) -> None:
        """Ask for the pages of the owners at positions ``starts[i]`` to ``ends[i]`` - 1."""
        self._prefetch("owners", self.owners, starts, ends)

    def _lower_bound(self, ordered: np.ndarray) -> np.ndarray:
        # Keys before the bucket's start have a smaller prefix, keys from the
        # next bucket's start a larger one: the answer lies between.
        bucket = _prefix(ordered, len(self.directory) - 1)
        low, high = np.asarray(self.directory[bucket]), np.asarray(self.directory[bucket + 1])
        while True:
            open_ = low < high
            if not open_.any():
                return low
            middle = (low + high) // 2
            below = np.zeros(len(ordered), dtype=bool)
            below[open_] = self.keys[middle[open_]] < ordered[open_]
            low = np.where(open_ & below, middle + 1, low)
            high = np.where(open_ & ~below, middle, high)

    def _prefetch(self, name: str, array: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> None:
        wanted = ends > starts
        if not wanted.any() or not hasattr(os, "posix_fadvise"):
            return
        first = (array.offset + starts[wanted] * 8) // _PAGE
        last = (array.offset + ends[wanted] * 8 - 1) // _PAGE
        if _resident_share(array, first) >= _RESIDENT:
            return
        # Ranges arrive in file order; adjacent or overlapping ones are asked for together.
        begins = np.flatnonzero(np.concatenate([[True], first[1:] > np.maximum.accumulate(last)[:-1] + 1]))
        ends_at = np.concatenate([begins[1:], [len(first)]]) - 1
        fd = os.open(self.folder / f"{name}.npy", os.O_RDONLY)
        try:
            for low, high in zip(first[begins].tolist(), np.maximum.accumulate(last)[ends_at].tolist()):
                os.posix_fadvise(fd, low * _PAGE, (high - low + 1) * _PAGE, os.POSIX_FADV_WILLNEED)
        finally:
            os.close(fd)


def _libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        return libc if hasattr(libc, "mincore") else None
    except OSError:
        return None


_LIBC = _libc()


def _resident_share(array: np.ndarray, pages: np.ndarray) -> float:
    """The share of a sample of the file's ``pages`` (of a memory-mapped ``array``) in the page cache; 0 if unknown."""
    if _LIBC is None or not len(pages):
        return 0.0
    # The mapping starts at the file's offset rounded down to the allocation granularity.
    start = array.ctypes.data - (array.offset % mmap.ALLOCATIONGRANULARITY)
    first_page = (array.offset - array.offset % mmap.ALLOCATIONGRANULARITY) // _PAGE
    sample = pages[:: max(1, len(pages) // _SAMPLE)][:_SAMPLE]
    vector, resident = ctypes.create_string_buffer(1), 0
    for page in sample.tolist():
        address = ctypes.c_void_p(start + (page - first_page) * _PAGE)
        if _LIBC.mincore(address, ctypes.c_size_t(_PAGE), vector) != 0:
            return 0.0
        resident += vector.raw[0] & 1
    return resident / len(sample)
