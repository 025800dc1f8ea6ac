"""Evaluation items against training records: exact and near-duplicate matches.

Exact: a training text whose normalised form (case-folded, whitespace
collapsed) equals an item's question. Near: a training record that shares
a MinHash LSH band with an item's question, or with the whole item, as
ingest banded it. Evaluation items are few (thousands), so their keys live
in memory; the near matches are one lookup of all their band keys in the
band index (annotation/dedup).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from annotation.dedup.index import band_keys
from annotation.ingest.checks import stored_bands
from annotation.ingest.minhash import band_hashes
from annotation.ingest.schemas import text_fields
from annotation.models import Record
from annotation.services.near_duplicates import band_matches

_BATCH = 5_000
# What str.split() splits on (every character whose isspace() is true), so
# that a run of anything else is one of its words and Arrow counts them as it would.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_WORD = "[^" + "".join(f"\\x{{{ord(c):x}}}" for c in WHITESPACE) + "]+"


def text_key(text: str) -> int:
    return xxhash.xxh64_intdigest(" ".join(text.casefold().split()).encode())


@dataclass
class EvaluationIndex:
    exact: set[int] = field(default_factory=set)
    word_counts: set[int] = field(default_factory=set)
    near_records: set[int] = field(default_factory=set)
    items: int = 0

    def add_question(self, question: str) -> None:
        self.exact.add(text_key(question))
        self.word_counts.add(len(question.split()))

    def maybe(self, ids: pa.Array, texts: pa.Array | None) -> np.ndarray:
        """Per row of pretraining texts: whether ``match`` could find it (a near match, or a question's word count)."""
        found = np.isin(np.asarray(ids, dtype=np.int64), np.fromiter(self.near_records, dtype=np.int64))
        if texts is not None and self.word_counts:
            words = pc.fill_null(pc.count_substring_regex(texts, _WORD), -1)
            found |= np.isin(np.asarray(words), np.fromiter(self.word_counts, dtype=np.int64))
        return found

    def match(self, record_id: int, kind: str, content: dict) -> str | None:
        """"exact", "near" or None for one training record."""
        if not self.items:
            return None
        for text in text_fields(kind, content):
            # Only a text with as many words as some question can equal it: skips the hashing almost always.
            words = text.split()
            if len(words) in self.word_counts and text_key(text) in self.exact:
                return "exact"
        return "near" if record_id in self.near_records else None


def evaluation_index() -> EvaluationIndex:
    """Every evaluation item of the portal that is not rejected or withdrawn."""
    items = Record.objects.filter(kind="evaluation").exclude(status__in=["rejected", "withdrawn"])
    index = EvaluationIndex()
    bands: list[list[int]] = []
    contents: list[tuple[str, dict]] = []
    for content in items.values_list("content", flat=True).iterator(chunk_size=_BATCH):
        index.items += 1
        index.add_question(content["question"])
        bands.append(band_hashes(content["question"]))
        contents.append(("evaluation", content))
    bands += stored_bands(contents)  # the whole item, banded as ingest bands it
    item_ids = set(items.values_list("id", flat=True))
    keys = band_keys(np.array(bands, dtype=np.int64)) if bands else np.empty(0, dtype=np.uint64)
    index.near_records = band_matches(keys) - item_ids
    return index
