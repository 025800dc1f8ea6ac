"""The build's stream in columns: values through COPY as the records hold them, placement in batches, bulk checks."""

import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import xxhash
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from annotation.models import Record
from training.models import Snapshot
from training.services.snapshot_build import snapshot_build, snapshot_license_check
from training.services.snapshots import snapshot_create
from training.snapshots import select
from training.snapshots.contamination import _WORD, WHITESPACE
from training.snapshots.params import normalise
from training.snapshots.read_ahead import read_ahead
from training.snapshots.split import copies_each, hex_digits, splits_of
from training.snapshots.xxh64 import xxh64_rows

from tests.annotation.texts import documents


def build(**params):
    params.setdefault("languages", ["de"])
    snapshot = snapshot_create(name="stream", license="CC-BY-4.0", parameters=params, enqueue=False)
    return snapshot_build(snapshot_id=snapshot.pk)


def shard_rows(snapshot):
    return [row for f in sorted(Path(snapshot.uri).rglob("*.parquet")) for row in pq.read_table(f).to_pylist()]


@pytest.mark.django_db
def test_every_value_comes_through_copy_as_the_record_holds_it(ingested, partner_a, german):
    rows = [{"prompt": f"Frage {i}", "response": f"Antwort {i}"} for i in range(6)]
    submission = ingested(rows, partner=partner_a, language=german, kind="instruction")
    records = list(Record.objects.filter(submission=submission).order_by("id"))
    # CSV's hard cases: quotes, commas, line breaks, the word NULL, an empty string (not a null), backslashes.
    tricky = [
        {"prompt": 'Er sagte: "Ja, gern."', "response": "Zeile eins\nZeile zwei\r\nZeile drei", "system": ""},
        {"prompt": "NULL", "response": "null", "system": "NaN"},
        {"prompt": "\\N", "response": "a,b,,c", "system": "\t Leerraum \t"},
        {"prompt": "", "response": '""'},
    ]
    for record, content in zip(records, tricky):
        Record.objects.filter(pk=record.pk).update(content=content)

    snapshot = build(kinds=["instruction"], splits={"train": 1.0})

    assert snapshot.status == Snapshot.Status.READY, snapshot.failure
    written = {row["record_id"]: row for row in shard_rows(snapshot)}
    assert set(written) == {r.pk for r in records}
    for record in Record.objects.filter(submission=submission):
        row = written[record.pk]
        assert {k: row[k] for k in ("prompt", "response", "system")} == {
            k: record.content.get(k) for k in ("prompt", "response", "system")
        }
        assert row["tokens"] == record.tokens and row["submission_id"] == submission.pk


@pytest.mark.django_db
def test_the_creation_check_reads_no_record_when_no_licence_conflicts(ingested, partner_a, german,
                                                                        django_assert_max_num_queries):
    ingested([{"text": t} for t in documents(5, "de", seed=3)], partner=partner_a, language=german, license="CC-BY-4.0")
    ingested([{"text": t} for t in documents(5, "de", seed=4)], partner=partner_a, language=german,
             license="CC-BY-NC-4.0")
    params = normalise({"languages": ["de"]})

    with django_assert_max_num_queries(1):  # the licences in use, nothing else
        assert snapshot_license_check(params=params, license="CC-BY-NC-4.0") == []
    conflicts = snapshot_license_check(params=params, license="CC-BY-4.0")
    assert [(c["license"], c["records"]) for c in conflicts] == [("CC-BY-NC-4.0", 5)]


def test_placement_in_batches_is_the_one_record_rule():
    rng = random.Random(5)
    hashes = [f"{rng.getrandbits(128):032x}" for _ in range(3000)]
    fractions = {"train": 0.9, "validation": 0.05, "test": 0.05}
    weights = [rng.choice([0.25, 1.0, 1.5, 3.75]) for _ in hashes]

    def point(salt, h, seed):  # the rule as written before placement went into numpy
        return xxhash.xxh64_intdigest(f"{salt}\x1f{h}".encode(), seed & 0xFFFFFFFFFFFFFFFF) / float(1 << 64)

    for seed in (0, 7, -3):
        expected_splits = [0 if p < 0.9 else 1 if p < 0.95 else 2 for p in (point("split", h, seed) for h in hashes)]
        assert splits_of(hex_digits(hashes), seed=seed, fractions=fractions).tolist() == expected_splits
        expected_copies = [int(w) + (point("mix", h, seed) < w - int(w)) for h, w in zip(hashes, weights)]
        assert copies_each(hex_digits(hashes), weights, seed=seed).tolist() == expected_copies


def test_xxh64_of_rows_is_xxhash():
    rng = random.Random(6)
    for length in (0, 3, 4, 7, 8, 31, 32, 36, 38, 63, 100):
        data = [bytes(rng.getrandbits(8) for _ in range(length)) for _ in range(50)]
        matrix = np.frombuffer(b"".join(data), dtype=np.uint8).reshape(len(data), length)
        for seed in (0, 1, 2**64 - 1):
            assert xxh64_rows(matrix, seed).tolist() == [xxhash.xxh64_intdigest(d, seed) for d in data]


def test_words_counted_in_arrow_are_str_split_words():
    assert WHITESPACE == "".join(c for c in map(chr, range(0x110000)) if c.isspace())
    rng = random.Random(7)
    alphabet = [*WHITESPACE, *"aé漢.,\u200b\x00"]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(2000)]
    assert pc.count_substring_regex(pa.array(texts), _WORD).to_pylist() == [len(t.split()) for t in texts]


def test_read_ahead_hands_over_every_item_then_the_error_and_closes_when_left():
    def items(fail):
        yield from range(5)
        if fail:
            raise ValueError("broken")

    assert list(read_ahead(items(False))) == [0, 1, 2, 3, 4]
    got = []
    with pytest.raises(ValueError, match="broken"):
        for item in read_ahead(items(True)):
            got.append(item)
    assert got == [0, 1, 2, 3, 4]

    closed = []

    def endless():
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.append(True)

    reader = read_ahead(endless(), depth=1)
    assert next(reader) == 0
    reader.close()
    assert closed == [True]


@pytest.mark.django_db
def test_a_language_with_a_large_share_streams_in_id_order_by_a_walk_and_leaves_sorting_on(
    ingested, partner_a, partner_b, german, french
):
    de = ingested([{"text": t} for t in documents(30, "de", seed=8)], partner=partner_a, language=german)
    ingested([{"text": t} for t in documents(3, "fr", seed=9)], partner=partner_b, language=french)
    # Rows rewritten by an update move in the heap, so the table's order is no longer the ids'.
    moved = list(Record.objects.filter(submission=de).order_by("id").values_list("id", flat=True)[:10])
    Record.objects.filter(pk__in=moved).update(tokens=F("tokens") + 1)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE annotation_record")  # the table's size, which the share is taken of
    params = normalise({"languages": ["de", "fr"]})

    def streamed(language):
        with transaction.atomic(), CaptureQueriesContext(connection) as queries:
            ids = [i for batch in select.stream(select.records_for(params, language), ["pretraining"], language)
                   for i in batch["id"].to_pylist()]
            with connection.cursor() as cursor:
                cursor.execute("SHOW enable_sort")
                assert cursor.fetchone() == ("on",)
        return ids, any("enable_sort = off" in q["sql"] for q in queries.captured_queries)

    assert streamed("de") == (sorted(Record.objects.filter(submission=de).values_list("id", flat=True)), True)
    ids, walked = streamed("fr")
    assert ids == sorted(ids) and len(ids) == 3 and not walked  # 3 of 33: found by the index and sorted
