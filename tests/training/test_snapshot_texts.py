"""The stream's pretraining text, joined from the chunk files a batch at a time."""

import pytest

from annotation.text_selectors import record_text_read
from training.snapshots.texts import ChunkTexts

from tests.annotation.texts import documents

pytestmark = pytest.mark.django_db


def test_a_batch_across_chunks_and_submissions_gets_each_rows_text_and_none_for_a_missing_line(
    ingested, partner_a, partner_b, german, french, settings
):
    settings.INGEST = {**settings.INGEST, "MIN_CHUNK_BYTES": 4 * 1024, "CHUNK_BYTES": 1024**2}
    de = ingested([{"text": t} for t in documents(120, "de", seed=1)], partner=partner_a, language=german)
    fr = ingested([{"text": t} for t in documents(5, "fr", seed=2)], partner=partner_b, language=french)
    assert de.chunks.count() > 2
    records = [*de.records.order_by("line")[::7], *fr.records.order_by("line")]
    batch = {"submission_id": [r.submission_id for r in records], "line": [r.line for r in records],
             "kind": ["pretraining"] * len(records), "text": [None] * len(records)}  # fmt: skip
    batch["submission_id"].append(de.pk)
    batch["line"].append(10_000)  # no such line
    batch["kind"].append("pretraining")
    batch["text"].append(None)
    batch["kind"][0], batch["text"][1] = "instruction", "kept"  # neither is looked up

    ChunkTexts().fill(batch)

    expected = [record_text_read(r).get("text") for r in records]
    assert batch["text"].to_pylist() == [None, "kept", *expected[2:], None]
