"""Gopher's repeated n-gram signals for a batch of texts at once, in numpy.

The definitions are datatrove's GopherRepetitionFilter's, on the shared
word split: for n = 2, 3, 4 the characters of the most frequent n-gram
(see top-n below), for n = 5 … 10 the characters of n-grams repeating an
earlier one, each over the text's characters.

N-grams are compared by 64-bit keys built from word hashes, with the text's
index mixed in so that texts never meet: two different n-grams of a text
share a key with probability about (words² / 2**65), which for a 100 kB
text is below 10**-9. Only positions whose (n-1)-gram and following
(n-1)-gram both repeat can start a repeated n-gram, so each n sorts only
those: on ordinary prose a few per cent of the words past n = 3.
"""

from itertools import chain

import numpy as np

from annotation.ingest.words import MULTIPLIER, Words

TOP_NGRAMS = (2, 3, 4)
DUPLICATE_NGRAMS = (5, 6, 7, 8, 9, 10)
NGRAM_SIGNALS = {n: f"top_{n}gram_char_fraction" for n in TOP_NGRAMS} | {
    n: f"duplicate_{n}gram_char_fraction" for n in DUPLICATE_NGRAMS
}


def ngram_signals_batch(splits: list[Words], chars: list[int]) -> list[dict[int, float]]:
    """Per text, ``{n: fraction}`` for every n of NGRAM_SIGNALS (rounded to 4 places; 0 without repeats).

    ``chars`` holds each text's length, the denominator.
    """
    results = [dict.fromkeys(NGRAM_SIGNALS, 0.0) for _ in splits]
    hashes = np.concatenate([words.hashes for words in splits] + [np.zeros(0, np.uint64)])
    sizes = np.fromiter(map(len, (words.words for words in splits)), dtype=np.int64, count=len(splits))
    text_of = np.repeat(np.arange(len(splits)), sizes)
    ends = np.repeat(np.cumsum(sizes), sizes)  # the end of each word's text
    all_words = chain.from_iterable(words.words for words in splits)
    offsets = np.zeros(len(hashes) + 1, dtype=np.int64)  # characters before each word
    np.cumsum(np.fromiter(map(len, all_words), dtype=np.int64, count=len(hashes)), out=offsets[1:])
    keys = hashes * MULTIPLIER + text_of.astype(np.uint64)
    repeated = np.ones(len(keys), dtype=bool)  # every 2-gram is a candidate
    for n in range(2, DUPLICATE_NGRAMS[-1] + 1):
        keys = keys[:-1] * MULTIPLIER + hashes[n - 1 :]
        # A repeated n-gram is a repeated (n-1)-gram followed by one.
        inside = np.arange(len(keys)) + n <= ends[: len(keys)]
        candidates = np.flatnonzero(repeated[:-1] & repeated[1:] & inside)
        counts = _counts(keys[candidates])
        starts = candidates[counts > 1]
        if not len(starts):
            break
        repeated = np.zeros(len(keys), dtype=bool)
        repeated[starts] = True
        ngram_chars = offsets[starts + n] - offsets[starts]
        texts = text_of[starts]
        if n in TOP_NGRAMS:
            found = _top_ngram_chars(texts, counts[counts > 1], ngram_chars, n)
        else:
            found = _duplicate_ngram_chars(starts, keys[starts], texts, ngram_chars, n)
        for text, value in found.items():
            results[text][n] = round(value / chars[text], 4) if chars[text] else 0.0
    return results


def _counts(keys: np.ndarray) -> np.ndarray:
    """How often each element's value occurs in ``keys``, element by element."""
    order = np.argsort(keys)
    ordered = keys[order]
    first = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    sizes = np.diff(np.append(first, len(keys)))
    counts = np.empty(len(keys), dtype=np.int64)
    counts[order] = np.repeat(sizes, sizes)
    return counts


def _top_ngram_chars(texts: np.ndarray, counts: np.ndarray, ngram_chars: np.ndarray, n: int) -> dict[int, int]:
    """Per text with a repeated n-gram, the characters of its most frequent one (length with spaces × count).

    Unlike datatrove, a text without repeats scores 0, not the share of
    whichever n-gram comes first (which makes every short text look
    repetitive). Among equally frequent n-grams the longest counts, so the
    result does not depend on hash order.
    """
    top = np.zeros(texts.max() + 1, dtype=np.int64)
    np.maximum.at(top, texts, counts)
    most = counts == top[texts]
    longest = np.zeros_like(top)
    np.maximum.at(longest, texts[most], ngram_chars[most])
    return {int(text): int((longest[text] + n - 1) * top[text]) for text in np.unique(texts)}


def _duplicate_ngram_chars(starts, keys, texts, ngram_chars, n: int) -> dict[int, int]:
    """Characters (spaces excluded) in n-grams that repeat an earlier one, skipping past each repeat.

    The scan of datatrove's find_all_duplicate, visiting only the positions
    of n-grams that occur more than once: the others are never a repeat,
    and remembering them changes nothing. Keys carry their text, and a skip
    never crosses a text's end, so one pass serves the batch.
    """
    seen, found, resume = set(), {}, 0
    for start, key, text, chars in zip(starts.tolist(), keys.tolist(), texts.tolist(), ngram_chars.tolist()):
        if start < resume:
            continue
        if key in seen:
            found[text] = found.get(text, 0) + chars
            resume = start + n
        else:
            seen.add(key)
    return found
