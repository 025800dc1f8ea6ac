"""Ingest checks records a batch at a time; one record that breaks a check is rejected alone."""

from annotation.ingest import checks
from annotation.services import ingest_chunk

from .ingest_helpers import english, jsonl


def test_a_failing_record_is_rejected_alone(submit_de, monkeypatch):
    def check_records(kind, contents, **options):
        if any("Kaputt" in content["text"] for content in contents):
            raise RuntimeError("a check broke")
        return checks.check_records(kind, contents, **options)

    monkeypatch.setattr(ingest_chunk, "check_records", check_records)
    rows = [{"text": f"Ein ganz gewöhnlicher deutscher Satz Nummer {n}."} for n in range(5)]
    rows[2] = {"text": "Kaputt ist dieser Satz."}
    submission = submit_de(jsonl(rows))
    assert (submission.records_accepted, submission.records_rejected) == (4, 1)
    assert english(submission.errors) == [{"line": 3, "message": "the record could not be checked (an internal error, logged)"}]
    assert sorted(submission.records.values_list("line", flat=True)) == [1, 2, 4, 5]
