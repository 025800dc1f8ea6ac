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
import xxhash

from annotation.dedup.index import band_keys
from annotation.ingest.checks import stored_bands
from annotation.ingest.minhash import band_hashes
from annotation.ingest.schemas import text_fields
from annotation.models import Record
from annotation.services.near_duplicates import band_matches

_BATCH = 5_000


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
