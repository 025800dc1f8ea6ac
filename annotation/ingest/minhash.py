"""MinHash LSH band hashes for near-duplicate detection, many texts at a time.

A text becomes the set of its word 5-grams (the shared word split:
lower-cased, split at apostrophes, stripped of punctuation), a
112-permutation MinHash of that set (rensa's R-MinHash, in Rust, over the
whole batch in one call), and 14 bands of 8 rows. Two texts that share a
band are near-duplicate candidates: for Jaccard similarity s the chance of
sharing at least one band is 1 - (1 - s**8)**14: 0.9996 at s = 0.9, 0.92 at
0.8, 0.05 at 0.5, 0.001 at 0.3.

Changing anything here (or a rensa release changing its permutations)
changes every stored band hash, and records hashed before and after would no
longer meet: BAND_SCHEME names the scheme (rensa's algorithm version is part
of it), each record stores the scheme of its bands, and ``manage.py
records_reband`` rehashes the records of an older one. A pinned value in the
tests catches a silent change.
"""

import numpy as np
import xxhash
from rensa import RMinHash

from annotation.ingest.words import Words, ngram_keys, split

NUM_PERM = 112
NUM_BANDS = 14
ROWS_PER_BAND = NUM_PERM // NUM_BANDS
SHINGLE_WORDS = 5
SEED = 1
BAND_SCHEME = f"words-5gram-112x14-rensa{RMinHash.ALGORITHM_VERSION}-v2"

_EMPTY = np.array([xxhash.xxh64_intdigest(b"")], dtype=np.uint64)
_ROW_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)


def band_hashes(text: str) -> list[int]:
    """NUM_BANDS signed 64-bit band hashes of ``text``: see band_hashes_batch."""
    return band_hashes_batch([split(text)])[0]


def band_hashes_batch(splits: list[Words]) -> list[list[int]]:
    """NUM_BANDS signed 64-bit band hashes (they fit a PostgreSQL bigint) per split text.

    Deterministic across processes and machines. A text of fewer than
    SHINGLE_WORDS words is one shingle, so short texts match only when
    their words are the same.
    """
    if not splits:
        return []
    shingles, counts = _shingles([words.folded for words in splits])
    offsets = np.zeros(len(splits) + 1, dtype=np.uint64)
    np.cumsum(counts, out=offsets[1:])
    matrix = RMinHash.digest_matrix_from_flat_token_hashes(shingles, offsets, NUM_PERM, SEED)
    rows = np.array(matrix.to_rows(), dtype=np.uint64).reshape(len(splits), NUM_BANDS, ROWS_PER_BAND)
    return _band_keys(rows).view(np.int64).tolist()


def _shingles(hashes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The shingle keys of all texts, one after the other, and how many each text has.

    The keys are computed over the concatenated word hashes at once, and those
    that straddle two texts dropped. Repeated shingles need no removal: they
    cannot change a minimum.
    """
    sizes = np.fromiter(map(len, hashes), dtype=np.int64, count=len(hashes))
    words = np.concatenate(hashes)
    counts = np.maximum(sizes - SHINGLE_WORDS + 1, 1)
    shingles = np.empty(counts.sum(), dtype=np.uint64)
    long = sizes >= SHINGLE_WORDS
    if len(words) >= SHINGLE_WORDS:
        ends = np.repeat(np.cumsum(sizes), sizes)[: len(words) - SHINGLE_WORDS + 1]
        inside = np.arange(len(ends)) + SHINGLE_WORDS <= ends
        shingles[np.repeat(long, counts)] = ngram_keys(words, SHINGLE_WORDS)[inside]
    starts = np.cumsum(counts) - counts
    for index in np.flatnonzero(~long).tolist():
        short = hashes[index]
        shingles[starts[index]] = ngram_keys(short, len(short))[0] if len(short) else _EMPTY[0]
    return shingles, counts


def _band_keys(rows: np.ndarray) -> np.ndarray:
    """One 64-bit key per band: a polynomial over its rows, then splitmix64's finaliser."""
    keys = np.zeros(rows.shape[:2], dtype=np.uint64)
    for row in range(ROWS_PER_BAND):
        keys *= _ROW_MULTIPLIER
        keys += rows[:, :, row]
    keys ^= keys >> np.uint64(30)
    keys *= np.uint64(0xBF58476D1CE4E5B9)
    keys ^= keys >> np.uint64(27)
    keys *= np.uint64(0x94D049BB133111EB)
    keys ^= keys >> np.uint64(31)
    return keys
