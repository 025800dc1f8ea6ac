"""Quality signals per record, as Gopher, C4 and FineWeb filter on them.

The definitions follow datatrove's GopherQualityFilter,
GopherRepetitionFilter and FineWebQualityFilter. This module measures
only; thresholds are a later choice. Where it differs from datatrove:

- Words are those of the shared split (annotation.ingest.words): tokens of
  the lower-cased text split at apostrophes, stripped of punctuation.
- ``stop_words`` counts distinct words of the language's stopwords-iso list,
  not occurrences of Gopher's eight English words.
- ``symbol_word_ratio`` adds "#" and ellipses; Gopher bounds each alone.
- Lines are the non-empty lines.
- Top n-grams: see annotation.ingest.ngrams.
"""

import string
import unicodedata
from bisect import bisect_right
from functools import lru_cache
from itertools import compress
from operator import itemgetter

import stopwordsiso

from annotation.ingest.ngrams import NGRAM_SIGNALS, ngram_signals_batch
from annotation.ingest.words import PUNCTUATION, Words, split

_NOT_LETTERS = PUNCTUATION + string.digits
_ELLIPSES = ("...", "…")
_BULLETS = ("•", "-", "*", "·", "‣", "◦", "▪", "●", "►", "➢")
_TERMINAL = (".", "!", "?", '"', "'", "…", "»", "«", "”", "“", "’")
# NFC turns the Greek question mark (U+037E) into ";", which elsewhere
# ends code, not sentences.
_TERMINAL_BY_LANGUAGE = {"el": _TERMINAL + (";",)}
_DIGITS = b"0123456789"

HISTOGRAM_BINS: dict[str, list[float]] = {
    "words": [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 100000],
    "mean_word_length": [2, 3, 4, 5, 6, 7, 8, 10, 12],
    "symbol_word_ratio": [0.01, 0.02, 0.05, 0.1, 0.2, 0.5],
    "duplicate_line_fraction": [0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75],
    "stop_words": [1, 2, 5, 10, 20, 50, 100],
    "digit_ratio": [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5],
}
# The signals PostgreSQL keeps per record (Record.quality_<name>), which snapshots may filter on.
FILTERED_SIGNALS = tuple(HISTOGRAM_BINS)


def quality_signals(text: str, language: str) -> dict:
    """The signals of one text: see quality_signals_batch."""
    return quality_signals_batch([text], [split(text)], language)[0]


def quality_signals_batch(texts: list[str], splits: list[Words], language: str) -> list[dict]:
    """Measure each of ``texts`` (normalised; ``splits`` their word splits) for the Gopher, C4 and FineWeb filters.

    ``language`` is an ISO 639 code, possibly with a region ("pt-BR");
    only its base picks the stop-word list. Ratios are rounded to four
    places; ``stop_words`` (distinct stop words found) is None where
    stopwords-iso has no list for the language. An empty text scores 0
    throughout. The repeated n-gram signals are computed for the whole
    batch at once (annotation.ingest.ngrams).
    """
    base = language.replace("_", "-").split("-")[0].lower()
    ngrams = ngram_signals_batch(splits, [len(text) for text in texts])
    return [
        {
            "chars": len(text),
            **_word_signals(text, words.tokens, words.words),
            "stop_words": _stop_word_count(words.words, base),
            **_line_signals(text, [line for line in text.split("\n") if line.strip()], base),
            **{NGRAM_SIGNALS[n]: value for n, value in repeats.items()},
        }
        for text, words, repeats in zip(texts, splits, ngrams)
    ]


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
