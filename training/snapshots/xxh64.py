"""XXH64 of many equal-length byte strings at once, in numpy: the same numbers as ``xxhash.xxh64_intdigest``.

A build places every record by the XXH64 of its content hash (split.py).
The ``xxhash`` package hashes one string per call, which at a million
records cost more than the rest of the placement; this is the same
algorithm (https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md)
run down the columns of a ``(rows, length)`` byte matrix. numpy's uint64
arithmetic wraps modulo 2**64, as the specification's does.
"""

from __future__ import annotations

import numpy as np

P1, P2, P3, P4, P5 = (np.uint64(p) for p in (
    0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5,
))  # fmt: skip


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


def _round(acc: np.ndarray, lane: np.ndarray) -> np.ndarray:
    return _rotl(acc + lane * P2, 31) * P1


def _lane64(data: np.ndarray, at: int) -> np.ndarray:
    return np.ascontiguousarray(data[:, at : at + 8]).view("<u8")[:, 0].astype(np.uint64)


def xxh64_rows(data: np.ndarray, seed: int = 0) -> np.ndarray:
    """The XXH64 of each row of the uint8 matrix ``data``, with ``seed``, as uint64."""
    rows, length = data.shape
    seed = np.uint64(seed & 0xFFFFFFFFFFFFFFFF)
    at = 0
    with np.errstate(over="ignore"):
        if length >= 32:
            v = [np.full(rows, seed + P1 + P2), np.full(rows, seed + P2), np.full(rows, seed), np.full(rows, seed - P1)]
            while at + 32 <= length:
                v = [_round(acc, _lane64(data, at + 8 * i)) for i, acc in enumerate(v)]
                at += 32
            h = _rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)
            for acc in v:
                h = (h ^ _round(np.zeros(rows, np.uint64), acc)) * P1 + P4
        else:
            h = np.full(rows, seed + P5)
        h = h + np.uint64(length)
        while at + 8 <= length:
            h = _rotl(h ^ _round(np.zeros(rows, np.uint64), _lane64(data, at)), 27) * P1 + P4
            at += 8
        if at + 4 <= length:
            lane = np.ascontiguousarray(data[:, at : at + 4]).view("<u4")[:, 0].astype(np.uint64)
            h = _rotl(h ^ (lane * P1), 23) * P2 + P3
            at += 4
        while at < length:
            h = _rotl(h ^ (data[:, at].astype(np.uint64) * P5), 11) * P1
            at += 1
        h ^= h >> np.uint64(33)
        h *= P2
        h ^= h >> np.uint64(29)
        h *= P3
        h ^= h >> np.uint64(32)
    return h
