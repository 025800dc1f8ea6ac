"""MinHash LSH band hashes for near-duplicate detection, as FineWeb computes them.

A text becomes the set of its word 5-grams (case-folded, punctuation
removed), a 112-permutation MinHash of that set, and 14 bands of 8 rows.
Two texts that share a band are near-duplicate candidates: for Jaccard
similarity s the chance of sharing at least one band is 1 - (1 - s**8)**14:
0.9996 at s = 0.9, 0.92 at 0.8, 0.05 at 0.5, 0.001 at 0.3.

Changing anything here (or a datasketch release changing its permutations)
changes every stored band hash, and records hashed before and after would no
longer meet: bump BAND_SCHEME with it. A pinned value in the tests catches both.
"""

import string
import threading

import numpy as np
import xxhash
from datasketch import MinHash

NUM_PERM = 112
NUM_BANDS = 14
ROWS_PER_BAND = NUM_PERM // NUM_BANDS
SHINGLE_WORDS = 5
SEED = 1
BAND_SCHEME = "fineweb-5gram-112x14-xxh64-v1"

_ASCII_PUNCTUATION = string.punctuation.encode()
_OTHER_PUNCTUATION = [mark.encode() for mark in "«»„“”‚‘’‹›‐‑‒–—―…·•¡¿"]
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_LOCAL = threading.local()


def band_hashes(text: str) -> list[int]:
    """NUM_BANDS signed 64-bit band hashes of ``text`` (they fit a PostgreSQL bigint).

    Deterministic across processes and machines. A text of fewer than
    SHINGLE_WORDS words is one shingle, so short texts match only when
    their words are the same.
    """
    minhash = _minhash()
    minhash.update_batch(_shingle_hashes(_words(text)))
    rows = minhash.hashvalues.astype("<u8").tobytes()
    size = len(rows) // NUM_BANDS
    digests = b"".join(xxhash.xxh64_digest(rows[start : start + size]) for start in range(0, len(rows), size))
    return np.frombuffer(digests, dtype=">i8").tolist()


def _minhash() -> MinHash:
    """This thread's MinHash, cleared: setting one up costs more than hashing a document."""
    minhash = getattr(_LOCAL, "minhash", None)
    if minhash is None:
        # hashfunc=int: the shingles arrive already hashed to 64 bits.
        minhash = _LOCAL.minhash = MinHash(num_perm=NUM_PERM, seed=SEED, hashfunc=int, scheme="affine64")
    minhash.clear()
    return minhash


def _words(text: str) -> list[bytes]:
    """Case-folded UTF-8 words with punctuation deleted ("l'homme" → "lhomme", as FineWeb does)."""
    data = text.casefold().encode().translate(None, _ASCII_PUNCTUATION)
    for mark in _OTHER_PUNCTUATION:
        if mark in data:
            data = data.replace(mark, b"")
    return data.split()


def _shingle_hashes(words: list[bytes]) -> list[int]:
    """A 64-bit hash per word 5-gram: a polynomial over the xxh64 of its words.

    Hashing each word once and combining in numpy costs a fraction of
    joining and hashing every 5-gram string. Repeated shingles need no
    removal: they cannot change a minimum.
    """
    if len(words) < SHINGLE_WORDS:
        return [xxhash.xxh64_intdigest(b" ".join(words))]
    hashes = np.fromiter(map(xxhash.xxh64_intdigest, words), dtype=np.uint64, count=len(words))
    count = len(words) - SHINGLE_WORDS + 1
    shingles = hashes[:count].copy()
    for offset in range(1, SHINGLE_WORDS):
        shingles *= _MULTIPLIER
        shingles += hashes[offset : offset + count]
    return shingles.tolist()
