"""The one word split that quality signals and MinHash shingles share.

Words are whitespace tokens of the lower-cased text, split at apostrophes
("l'homme" → "l", "homme", so elisions meet the stop-word lists) and
stripped of surrounding punctuation; a token of punctuation only is a
symbol, not a word. This treats Latin, Greek and Cyrillic alike and runs
in C string methods. Each word is hashed once (xxh64 of its UTF-8), and
n-grams are built from those hashes, never from joined strings. MinHash
takes the hashes of the case-folded words ("STRASSE" meets "straße"),
which are the same hashes unless the text holds one of the few letters
that fold differently (ß, ς, ligatures).
"""

import string
from dataclasses import dataclass
from itertools import repeat

import numpy as np
import xxhash

PUNCTUATION = string.punctuation + "«»„“”‚‘’‹›‐‑‒–—―…·•‣◦▪●■□►➢→←§¶°€£¥¢©®™‰†‡′″¡¿¦¬±×÷"
# Odd, so multiplying by it is a bijection modulo 2**64: n-gram keys built
# with it collide only as random 64-bit values do.
MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True)
class Words:
    tokens: list[str]
    words: list[str]
    hashes: np.ndarray  # uint64, one per word: xxh64 of its UTF-8
    folded: np.ndarray  # the same of each case-folded word


def split(text: str) -> Words:
    """The tokens and words of ``text`` (see the module docstring), with word hashes."""
    lowered = text.lower()
    tokens = lowered.replace("'", " ").replace("’", " ").split()
    words = list(filter(None, map(str.strip, tokens, repeat(PUNCTUATION))))
    hashes = _hashes(words)
    folded = _hashes(list(map(str.casefold, words))) if lowered.casefold() != lowered else hashes
    return Words(tokens=tokens, words=words, hashes=hashes, folded=folded)


def _hashes(words: list[str]) -> np.ndarray:
    return np.fromiter(map(xxhash.xxh64_intdigest, map(str.encode, words)), dtype=np.uint64, count=len(words))


def ngram_keys(hashes: np.ndarray, n: int) -> np.ndarray:
    """A 64-bit key per word n-gram (``len(hashes) - n + 1`` of them): a polynomial over word hashes."""
    count = len(hashes) - n + 1
    keys = hashes[:count].copy()
    for offset in range(1, n):
        keys *= MULTIPLIER
        keys += hashes[offset : offset + count]
    return keys
