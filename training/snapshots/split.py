"""Deterministic placement of a record: its split, and how many copies the mixture takes.

Both depend only on the record's content hash and the seed, never on the
order rows arrive in or on which other records exist, so adding data to a
later version never moves an old record from validation into train.
"""

from __future__ import annotations

import math

import xxhash

from .params import SPLITS

def _unit(seed: int, salt: str, content_hash: str) -> float:
    """A number in [0, 1) fixed by (seed, salt, content hash)."""
    return xxhash.xxh64_intdigest(f"{salt}\x1f{content_hash}".encode(), seed=seed & 0xFFFFFFFFFFFFFFFF) / (1 << 64)


def split_of(content_hash: str, *, seed: int, fractions: dict[str, float]) -> str:
    """train, validation or test, by cumulative fraction of the hash's bucket."""
    point = _unit(seed, "split", content_hash)
    edge = 0.0
    last = None
    # A fixed order: jsonb does not keep the order of a dict's keys.
    for name in SPLITS:
        fraction = fractions.get(name, 0)
        if fraction <= 0:
            continue
        edge += fraction
        last = name
        if point < edge:
            return name
    return last  # rounding at the top edge


def copies_of(content_hash: str, *, seed: int, weight: float) -> int:
    """How many times a record is written: ``floor(weight)``, plus one with probability ``frac(weight)``."""
    whole = math.floor(weight)
    if weight == whole:  # no chance involved: skip the hash
        return whole
    return whole + (1 if _unit(seed, "mix", content_hash) < weight - whole else 0)


def upsample_factor(cluster_size: int, table: list | None) -> int:
    """Repeats for a document whose near-duplicate cluster has ``cluster_size`` members."""
    if not table:
        return 1
    for low, high, repeats in table:
        if cluster_size >= low and (high is None or cluster_size <= high):
            return int(repeats)
    return 1
