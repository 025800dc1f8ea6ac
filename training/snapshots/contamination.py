"""Evaluation items against training records: exact and near-duplicate matches.

Exact: a training text whose normalised form (case-folded, whitespace
collapsed) equals an item's question. Near: a training record that shares
a MinHash LSH band with an item's question, or with the whole item, as
ingest stored the bands. Evaluation items are few (thousands), so their
keys live in memory; the near matches are one indexed join in the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import xxhash
from django.db import connection

from annotation.ingest.minhash import band_hashes
from annotation.ingest.schemas import text_fields
from annotation.models import Record, RecordBand

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
    pairs: set[tuple[int, int]] = set()
    for item_id, content in items.values_list("id", "content").iterator(chunk_size=_BATCH):
        index.items += 1
        index.add_question(content["question"])
        pairs.update(enumerate(band_hashes(content["question"])))
    item_ids = set(items.values_list("id", flat=True))
    pairs.update(RecordBand.objects.filter(record_id__in=item_ids).values_list("band", "hash"))
    index.near_records = _records_sharing(sorted(pairs)) - item_ids
    return index


def _records_sharing(pairs: list[tuple[int, int]]) -> set[int]:
    found: set[int] = set()
    for start in range(0, len(pairs), _BATCH):
        chunk = pairs[start : start + _BATCH]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT DISTINCT rb.record_id FROM annotation_recordband rb "
                    "JOIN unnest(%s::smallint[], %s::bigint[]) AS e(band, hash) "
                    "ON rb.band = e.band AND rb.hash = e.hash",
                    [[b for b, _ in chunk], [h for _, h in chunk]],
                )
                found.update(row[0] for row in cursor.fetchall())
        else:
            for band, hash_ in chunk:
                found.update(RecordBand.objects.filter(band=band, hash=hash_).values_list("record_id", flat=True))
    return found
