"""Ingest end to end in-process: figures, errors, dedup, PII, idempotency."""

import json

import pytest

from annotation.models import IngestChunk, Record, Submission
from annotation.services import ingest
from annotation.services.ingest_chunk import process_chunk_records
from annotation.text_selectors import record_text_read

from .ingest_helpers import english, ingest_now, jsonl, submit
from .texts import documents


def test_one_malformed_line_loses_nothing_else(submit_de):
    lines = [json.dumps({"text": t}) for t in documents(400)]
    lines[213] = '{"text": "kaputt"'  # line 214
    submission = submit_de("\n".join(lines) + "\n")

    assert submission.status == Submission.Status.READY
    assert submission.chunks_total > 1, "the file should have been cut into several chunks"
    assert submission.records_read == 400
    assert submission.records_accepted == 399
    assert submission.records_rejected == 1
    assert english(submission.errors) == [{"line": 214, "message": "invalid JSON: Expecting ',' delimiter (column 18)"}]
    assert Record.objects.filter(submission=submission).count() == 399
    assert not Record.objects.filter(submission=submission, line=214).exists()
    assert record_text_read(Record.objects.get(submission=submission, line=215))["text"] == documents(400)[214]


def test_figures_count_tokens_and_quality(submit_de):
    submission = submit_de(jsonl({"text": t} for t in documents(20)))
    assert submission.records_accepted == 20
    assert submission.tokens == sum(Record.objects.filter(submission=submission).values_list("tokens", flat=True)) > 0
    record = Record.objects.filter(submission=submission).first()
    assert record.detected_language == "de" and not record.language_mismatch
    assert record.quality["words"] > 10
    assert sum(submission.quality["words"]) == 20


def test_exact_duplicates_across_the_portal(submit_de, member_b, partner_b, german):
    docs = documents(10)
    first = submit_de(jsonl({"text": t} for t in docs + docs[:2]))
    assert (first.records_accepted, first.exact_duplicates) == (10, 2)

    again = ingest_now(submit(user=member_b, partner=partner_b, language=german, content=jsonl({"text": t} for t in docs)))
    assert (again.records_accepted, again.exact_duplicates, again.records_rejected) == (0, 10, 10)
    assert Record.objects.count() == 10
    # A repeated upload ends as a wrong-kind one does: failed, saying what happened.
    assert again.status == Submission.Status.FAILED
    assert again.failure == f"All 10 records were already in the portal (submission #{first.pk})."
    assert again.failure_message["params"] == {"count": "10", "submission": first.pk}


def test_exact_duplicates_name_the_line_they_repeat(submit_de):
    docs = documents(3)
    submission = submit_de(jsonl({"text": t} for t in docs + docs[:1]))
    (error,) = submission.errors
    assert (error["line"], error["reason"]) == (4, "exact_duplicate")
    assert error["message"] == f"exact duplicate of line 1 of submission #{submission.pk}"
    assert submission.status == Submission.Status.READY


def test_normalisation_makes_exact_duplicates(submit_de):
    text = documents(1)[0]
    submission = submit_de(jsonl([{"text": text}, {"text": "  " + text.replace(" ", "   ") + "\n\n"}]))
    assert (submission.records_accepted, submission.exact_duplicates) == (1, 1)


def test_near_duplicates_are_marked(submit_de):
    base = documents(1, sentences=10)[0]
    near = base.replace("Dies ist Eintrag", "Das ist Eintrag")
    submission = submit_de(jsonl([{"text": base}, {"text": near}, {"text": documents(1, seed=9)[0]}]))
    assert submission.near_duplicates == 1
    marked = Record.objects.get(submission=submission, near_duplicate_of__isnull=False)
    assert marked.line == 2 and marked.near_duplicate_of.line == 1


def test_personal_data_is_redacted_before_storage(submit_de):
    secret = "anna.schmidt@example.de"
    doc = documents(1)[0] + f" Schreiben Sie an {secret} oder rufen Sie +49 30 12345678 an."
    submission = submit_de(jsonl([{"text": doc}, {"text": "kaputt " + secret}]) + '{"text": "' + secret + '"\n')
    record = Record.objects.get(submission=submission, line=1)
    text = record_text_read(record)["text"]
    assert "<EMAIL>" in text and "<PHONE>" in text
    assert submission.pii_redactions >= 2
    stored = json.dumps([list(Record.objects.values()), submission.errors, submission.failure], default=str)
    assert secret not in stored and "12345678" not in stored


def test_language_mismatches_are_flagged(submit_de):
    rows = [{"text": t} for t in documents(5)] + [{"text": t} for t in documents(3, language="fr")]
    submission = submit_de(jsonl(rows))
    assert submission.language_mismatches == 3
    assert set(Record.objects.filter(language_mismatch=True).values_list("detected_language", flat=True)) == {"fr"}


def test_rerunning_a_chunk_stores_nothing_twice(member_a, partner_a, german, settings):
    settings.INGEST = {**settings.INGEST, "BATCH_RECORDS": 50}
    submission = submit(user=member_a, partner=partner_a, language=german, content=jsonl({"text": t} for t in documents(120)))
    chunk_ids = ingest.ingest_start(submission_id=submission.pk)
    first = IngestChunk.objects.get(pk=chunk_ids[0])
    # A worker that died after its first batches: the chunk is processed but never marked done.
    process_chunk_records(first)
    assert ingest.ingest_start(submission_id=submission.pk) == chunk_ids  # a redelivered plan task
    for chunk_id in chunk_ids + chunk_ids:  # and every chunk task delivered twice
        ingest.ingest_chunk_process(chunk_id=chunk_id)
    ingest.ingest_finish(submission_id=submission.pk)
    ingest.ingest_finish(submission_id=submission.pk)

    submission.refresh_from_db()
    assert submission.status == Submission.Status.READY
    assert (submission.records_read, submission.records_accepted, submission.exact_duplicates) == (120, 120, 0)
    assert Record.objects.filter(submission=submission).count() == 120


def test_chunk_size_spreads_an_upload_over_many_workers():
    from annotation.ingest.plan import CHUNK_SPREAD, chunk_bytes_for

    mib = 1024**2
    sizes = {"smallest": mib, "largest": 16 * mib}
    assert chunk_bytes_for(100 * mib, **sizes) == 100 * mib // CHUNK_SPREAD  # ~32 chunks for 2-16 workers
    assert chunk_bytes_for(2 * mib, **sizes) == mib  # no slivers: a small upload is a chunk or two
    assert chunk_bytes_for(2 * 1024 * mib, **sizes) == 16 * mib  # a 2 GB upload: 128 chunks, none huge


def test_a_mid_sized_upload_is_cut_into_many_chunks(member_a, partner_a, german, settings):
    settings.INGEST = {**settings.INGEST, "MIN_CHUNK_BYTES": 4 * 1024, "CHUNK_BYTES": 1024**2}
    content = jsonl({"text": t} for t in documents(400))
    submission = ingest_now(submit(user=member_a, partner=partner_a, language=german, content=content))

    assert submission.status == Submission.Status.READY
    assert submission.chunks_total == pytest.approx(32, abs=2)  # the 1 MiB largest chunk would have made one
    assert submission.records_accepted == 400
