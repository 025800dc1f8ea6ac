"""Quality signals per record, as Gopher, C4 and FineWeb filter on them.

The definitions follow datatrove's GopherQualityFilter,
GopherRepetitionFilter and FineWebQualityFilter. This module measures
only; thresholds are a later choice. Where it differs from datatrove:

- Words are whitespace tokens of the lower-cased text, split at apostrophes
  ("l'homme" → "l", "homme", so elisions meet the stop-word lists) and
  stripped of surrounding punctuation; a token of punctuation only is a
  symbol, not a word. This treats Latin, Greek and Cyrillic alike and runs
  in C string methods (a word regex alone would cost more than all the rest).
- ``stop_words`` counts distinct words of the language's stopwords-iso list,
  not occurrences of Gopher's eight English words.
- ``symbol_word_ratio`` adds "#" and ellipses; Gopher bounds each alone.
- Lines are the non-empty lines.
- Top n-grams: see _top_ngram_chars.
"""

import string
import unicodedata
from bisect import bisect_right
from collections import Counter
from functools import lru_cache
from itertools import accumulate, compress, repeat
from operator import itemgetter

import stopwordsiso

_PUNCTUATION = string.punctuation + "«»„“”‚‘’‹›‐‑‒–—―…·•‣◦▪●■□►➢→←§¶°€£¥¢©®™‰†‡′″¡¿¦¬±×÷"
_NOT_LETTERS = _PUNCTUATION + string.digits
_ELLIPSES = ("...", "…")
_BULLETS = ("•", "-", "*", "·", "‣", "◦", "▪", "●", "►", "➢")
_TERMINAL = (".", "!", "?", '"', "'", "…", "»", "«", "”", "“", "’")
# NFC turns the Greek question mark (U+037E) into ";", which elsewhere
# ends code, not sentences.
_TERMINAL_BY_LANGUAGE = {"el": _TERMINAL + (";",)}
_DIGITS = b"0123456789"
_TOP_NGRAMS = (2, 3, 4)
_DUPLICATE_NGRAMS = (5, 6, 7, 8, 9, 10)
_NGRAM_SIGNALS = {n: f"top_{n}gram_char_fraction" for n in _TOP_NGRAMS} | {
    n: f"duplicate_{n}gram_char_fraction" for n in _DUPLICATE_NGRAMS
}

HISTOGRAM_BINS: dict[str, list[float]] = {
    "words": [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 100000],
    "mean_word_length": [2, 3, 4, 5, 6, 7, 8, 10, 12],
    "symbol_word_ratio": [0.01, 0.02, 0.05, 0.1, 0.2, 0.5],
    "duplicate_line_fraction": [0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75],
    "stop_words": [1, 2, 5, 10, 20, 50, 100],
    "digit_ratio": [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5],
}


def quality_signals(text: str, language: str) -> dict:
    """Measure ``text`` (normalised) for the Gopher, C4 and FineWeb filters.

    ``language`` is an ISO 639 code, possibly with a region ("pt-BR");
    only its base picks the stop-word list. Ratios are rounded to four
    places; ``stop_words`` (distinct stop words found) is None where
    stopwords-iso has no list for the language. An empty text scores 0
    throughout.
    """
    base = language.replace("_", "-").split("-")[0].lower()
    tokens = text.lower().replace("'", " ").replace("’", " ").split()
    words = list(filter(None, map(str.strip, tokens, repeat(_PUNCTUATION))))
    lines = [line for line in text.split("\n") if line.strip()]
    return {
        "chars": len(text),
        **_word_signals(text, tokens, words),
        "stop_words": _stop_word_count(words, base),
        **_line_signals(text, lines, base),
        **_ngram_signals(words, len(text)),
    }


def _word_signals(text: str, tokens: list[str], words: list[str]) -> dict:
    """Gopher quality: word count and length, symbols, alphabetic tokens; share of (ASCII) digits."""
    symbols = text.count("#") + sum(text.count(ellipsis) for ellipsis in _ELLIPSES)
    # Gopher's share of tokens holding a letter, symbols included. Words are
    # stripped of punctuation, so only those that start with a digit may lack one.
    numeric_start = compress(words, map(str.isdigit, map(itemgetter(0), words)))
    alphabetic = len(words) - sum(1 for word in numeric_start if not word.strip(_NOT_LETTERS))
    encoded = text.encode()
    digits = len(encoded) - len(encoded.translate(None, _DIGITS))
    return {
        "words": len(words),
        "mean_word_length": _ratio(sum(map(len, words)), len(words)),
        "symbol_word_ratio": _ratio(symbols, len(words) or 1),
        "digit_ratio": _ratio(digits, len(text)),
        "alpha_word_ratio": _ratio(alphabetic, len(tokens)),
    }


def _line_signals(text: str, lines: list[str], base: str) -> dict:
    """Gopher repetition (duplicate lines), Gopher bullets and ellipses, C4/FineWeb terminal punctuation."""
    terminal = _TERMINAL_BY_LANGUAGE.get(base, _TERMINAL)
    duplicates, duplicate_chars = _duplicate_lines(lines)
    return {
        "lines": len(lines),
        "duplicate_line_fraction": _ratio(duplicates, len(lines)),
        "duplicate_line_char_fraction": _ratio(duplicate_chars, len(text)),
        "bullet_line_ratio": _ratio(sum(1 for line in lines if line.startswith(_BULLETS)), len(lines)),
        "ellipsis_line_ratio": _ratio(sum(1 for line in lines if line.endswith(_ELLIPSES)), len(lines)),
        "terminal_punctuation_line_ratio": _ratio(sum(1 for line in lines if line.endswith(terminal)), len(lines)),
    }


def _duplicate_lines(lines: list[str]) -> tuple[int, int]:
    """Repeated lines after their first occurrence: how many, and their characters."""
    if len(set(lines)) == len(lines):
        return 0, 0
    seen, count, chars = set(), 0, 0
    for line in lines:
        if line in seen:
            count += 1
            chars += len(line)
        else:
            seen.add(line)
    return count, chars


def _ngram_signals(words: list[str], chars: int) -> dict:
    """Gopher repetition over word n-grams, each n-gram reduced to a hash key.

    The key of an n-gram hashes the key of its (n-1)-gram prefix with its
    last word. Python's string hash is salted per process, but the signals
    only ask which n-grams are equal, so they do not depend on the salt.
    """
    signals = dict.fromkeys(_NGRAM_SIGNALS.values(), 0.0)
    lengths = list(accumulate(map(len, words), initial=0))
    keys = words
    for n in range(2, _DUPLICATE_NGRAMS[-1] + 1):
        keys = list(map(hash, zip(keys, words[n - 1 :])))
        counts = Counter(keys)
        # A repeated (n+1)-gram contains a repeated n-gram: once none repeats, none will.
        if len(counts) == len(keys):
            break
        if n in _TOP_NGRAMS:
            chars_in_ngrams = _top_ngram_chars(keys, counts, lengths, n)
        else:
            chars_in_ngrams = _duplicate_ngram_chars(keys, lengths, n)
        signals[_NGRAM_SIGNALS[n]] = _ratio(chars_in_ngrams, chars)
    return signals


def _top_ngram_chars(keys: list[int], counts: Counter, lengths: list[int], n: int) -> int:
    """Characters covered by the most frequent n-gram (length with spaces × count).

    Called only when some n-gram repeats: unlike datatrove, a text without
    repeats scores 0, not the share of whichever n-gram comes first (which
    makes every short text look repetitive). Among equally frequent n-grams
    the longest counts, so the result does not depend on hash order.
    """
    top = max(counts.values())
    starts = map(keys.index, compress(counts, map(top.__eq__, counts.values())))
    longest = max(lengths[start + n] - lengths[start] for start in starts)
    return (longest + n - 1) * top


def _duplicate_ngram_chars(keys: list[int], lengths: list[int], n: int) -> int:
    """Characters (spaces excluded) in n-grams that repeat an earlier one, skipping past each repeat."""
    seen, chars, index = set(), 0, 0
    while index < len(keys):
        key = keys[index]
        if key in seen:
            chars += lengths[index + n] - lengths[index]
            index += n
        else:
            seen.add(key)
            index += 1
    return chars


def _stop_word_count(words: list[str], base: str) -> int | None:
    stop_words = _stop_words(base)
    return None if stop_words is None else len(stop_words.intersection(words))


@lru_cache(maxsize=None)
def _stop_words(base: str) -> frozenset[str] | None:
    base = "no" if base in ("nb", "nn") else base
    if not stopwordsiso.has_lang(base):
        return None
    return frozenset(unicodedata.normalize("NFC", word) for word in stopwordsiso.stopwords(base))


def _ratio(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole else 0.0


def histogram_add(hist: dict, signals: dict) -> None:
    """Count ``signals`` into ``hist`` ({signal: [count per bin]}), in place.

    Bin ``i`` holds values in [edges[i-1], edges[i]); the first bin holds
    values below edges[0], the last (overflow) those at or above edges[-1].
    Missing and None signals are skipped.
    """
    for name, edges in HISTOGRAM_BINS.items():
        value = signals.get(name)
        if value is None:
            continue
        counts = hist.setdefault(name, [0] * (len(edges) + 1))
        counts[bisect_right(edges, value)] += 1


def histogram_merge(a: dict, b: dict) -> dict:
    """A new histogram with the counts of ``a`` and ``b`` added bin by bin."""
    merged = {name: list(counts) for name, counts in a.items()}
    for name, counts in b.items():
        if name not in merged:
            merged[name] = list(counts)
        elif len(merged[name]) != len(counts):
            raise ValueError(f"histograms of {name!r} have different bins")
        else:
            merged[name] = [x + y for x, y in zip(merged[name], counts)]
    return merged
