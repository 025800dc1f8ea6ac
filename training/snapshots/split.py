"""Deterministic placement of a record: its split, and how many copies the mixture takes.

Both depend only on the record's content hash and the seed, never on the
order rows arrive in or on which other records exist, so adding data to a
later version never moves an old record from validation into train.

The batch forms (``splits_of``, ``copies_each``) are what a build uses, on
numpy arrays; the one-record forms are the same computation on a batch of
one, so the rule is written once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xxhash

from .params import SPLITS
from .xxh64 import xxh64_rows

_SCALE = float(1 << 64)
HASH_DIGITS = 32  # a content hash spelled in hex


def hex_digits(content_hashes: Sequence[str] | np.ndarray) -> np.ndarray:
    """Content hashes as a numpy ``S32`` array of their lower-case hex digits."""
    return np.asarray(content_hashes, dtype=f"S{HASH_DIGITS}")


def _points(salt: str, content_hashes: Sequence[str] | np.ndarray, seed: int) -> np.ndarray:
    """Numbers in [0, 1), each fixed by (seed, salt, content hash): XXH64 of ``salt \\x1f hash`` over 2**64."""
    prefix, seed = f"{salt}\x1f".encode(), seed & 0xFFFFFFFFFFFFFFFF
    if isinstance(content_hashes, np.ndarray) and content_hashes.dtype == np.dtype(f"S{HASH_DIGITS}"):
        digits = content_hashes
    elif all(isinstance(h, str) and len(h) == HASH_DIGITS and h.isascii() for h in content_hashes):
        digits = hex_digits(content_hashes)
    else:  # not a content hash (a caller's own key): one at a time
        return np.array([xxhash.xxh64_intdigest(prefix + h.encode(), seed) / _SCALE for h in content_hashes])
    rows = np.empty((len(digits), len(prefix) + HASH_DIGITS), dtype=np.uint8)
    rows[:, : len(prefix)] = np.frombuffer(prefix, dtype=np.uint8)
    rows[:, len(prefix) :] = digits.view(np.uint8).reshape(len(digits), HASH_DIGITS)
    # uint64 to float64 rounds to nearest, as Python's int / float does: the same points as one at a time.
    return xxh64_rows(rows, seed).astype(np.float64) / _SCALE


def splits_of(content_hashes: Sequence[str] | np.ndarray, *, seed: int, fractions: dict[str, float]) -> np.ndarray:
    """Index into ``SPLITS`` of each hash's split: the first whose cumulative fraction exceeds the hash's point."""
    bounds, indices, edge = [], [], 0.0
    # A fixed order: jsonb does not keep the order of a dict's keys.
    for index, name in enumerate(SPLITS):
        fraction = fractions.get(name, 0)
        if fraction > 0:
            edge += fraction
            bounds.append(edge)
            indices.append(index)
    if len(indices) == 1:
        return np.full(len(content_hashes), indices[0], dtype=np.int64)
    # The last bound is left out: a point at or past it (rounding at the top edge) goes to the last split.
    inner = np.array(bounds[:-1])
    return np.array(indices, dtype=np.int64)[np.searchsorted(inner, _points("split", content_hashes, seed), "right")]


def split_of(content_hash: str, *, seed: int, fractions: dict[str, float]) -> str:
    """train, validation or test for one record."""
    return SPLITS[int(splits_of([content_hash], seed=seed, fractions=fractions)[0])]


def copies_each(content_hashes: Sequence[str] | np.ndarray, weights, *, seed: int) -> np.ndarray:
    """How many times each record is written: ``floor(w)``, plus one with probability ``frac(w)``."""
    weights = np.asarray(weights, dtype=np.float64)
    whole = np.floor(weights)
    if np.array_equal(whole, weights):  # no chance involved: skip the hashing
        return whole.astype(np.int64)
    return (whole + (_points("mix", content_hashes, seed) < weights - whole)).astype(np.int64)


def upsample_factor(cluster_size: int, table: list | None) -> int:
    """Repeats for a document whose near-duplicate cluster has ``cluster_size`` members."""
    if not table:
        return 1
    for low, high, repeats in table:
        if cluster_size >= low and (high is None or cluster_size <= high):
            return int(repeats)
    return 1
