"""Deterministic placement of a record: its split, and how many copies the mixture takes.

Both depend only on the record's content hash and the seed, never on the
order rows arrive in or on which other records exist, so adding data to a
later version never moves an old record from validation into train.

The batch forms (``splits_of``, ``copies_each``) are what a build uses; the
one-record forms are the same computation on a batch of one, so the rule is
written once.
"""

from __future__ import annotations

import math
from bisect import bisect_right

import xxhash

from .params import SPLITS

_SCALE = float(1 << 64)


def _points(salt: str, content_hashes: list[str], seed: int) -> list[float]:
    """Numbers in [0, 1), each fixed by (seed, salt, content hash)."""
    prefix, seed, digest = f"{salt}\x1f".encode(), seed & 0xFFFFFFFFFFFFFFFF, xxhash.xxh64_intdigest
    return [digest(prefix + h.encode(), seed) / _SCALE for h in content_hashes]


def splits_of(content_hashes: list[str], *, seed: int, fractions: dict[str, float]) -> list[int]:
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
        return indices * len(content_hashes)
    # The last bound is left out: a point at or past it (rounding at the top edge) goes to the last split.
    inner = bounds[:-1]
    return [indices[bisect_right(inner, point)] for point in _points("split", content_hashes, seed)]


def split_of(content_hash: str, *, seed: int, fractions: dict[str, float]) -> str:
    """train, validation or test for one record."""
    return SPLITS[splits_of([content_hash], seed=seed, fractions=fractions)[0]]


def copies_each(content_hashes: list[str], weights: list[float], *, seed: int) -> list[int]:
    """How many times each record is written: ``floor(w)``, plus one with probability ``frac(w)``."""
    if all(w == math.floor(w) for w in set(weights)):  # no chance involved: skip the hashing
        return [int(w) for w in weights]
    return [
        math.floor(w) + (1 if point < w - math.floor(w) else 0)
        for w, point in zip(weights, _points("mix", content_hashes, seed))
    ]


def upsample_factor(cluster_size: int, table: list | None) -> int:
    """Repeats for a document whose near-duplicate cluster has ``cluster_size`` members."""
    if not table:
        return 1
    for low, high, repeats in table:
        if cluster_size >= low and (high is None or cluster_size <= high):
            return int(repeats)
    return 1
