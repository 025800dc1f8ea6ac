"""No unredacted personal data is kept: not in records' ids and meta, problem lines, failures, logs or files."""

import csv
import gzip
import io
import json
import logging
import tarfile
import zipfile

import pytest

from annotation.models import Record, Submission
from annotation.services import ingest_chunk
from annotation.services.uploads import submission_create_from_upload, upload_append, upload_create
from annotation.tasks import ingest_chunk as ingest_chunk_task
from annotation.text_selectors import record_text_read

from ..conftest import wait_for
from .ingest_helpers import jsonl, submit, zipped
from .personal_data import email, phone, planted_record, stored_hits
from .texts import documents


def test_id_meta_and_text_are_redacted_and_every_redaction_counts(submit_de):
    record, planted = planted_record(1, documents(1, seed=21)[0])

    submission = submit_de(jsonl([record]))

    stored = Record.objects.get(submission=submission)
    assert stored.external_id == "<EMAIL>"
    assert stored.meta == {"author_email": "<EMAIL>", "phone": "<PHONE>", "contacts": [{"iban": "<IBAN>"}, "Tel. <PHONE>"]}
    assert record_text_read(stored)["text"].endswith("Schreiben Sie an <EMAIL> oder rufen Sie <PHONE> an. Konto: <IBAN>.")
    assert stored.pii_redactions == submission.pii_redactions == len(planted) + 1  # the id's address is the text's
    assert stored_hits(planted) == []
    # The texts' redactions per kind, for the submission page's list (id and meta count in the total only).
    assert stored.redactions == {"email": 1, "phone": 1, "iban": 1}


def test_an_archive_members_name_is_redacted_in_records_and_problem_lines(submit_de):
    text = documents(1, seed=22)[0].encode()
    archive = zipped({f"brief-{email(2)}.txt": text, f"tel {phone(2)}.jsonl": b"not json\n"})

    submission = submit_de(archive, name="briefe.zip")

    assert Record.objects.get(submission=submission).origin == "<EMAIL>:1"  # the address ran into ".txt"
    assert [(e["file"], e["line"]) for e in submission.errors] == [("tel <PHONE>.jsonl", 1)]
    assert submission.pii_redactions == 1


def test_problem_lines_quote_no_personal_data(submit_de):
    turns = [{"role": "anna@firma.de", "content": "Wie spät ist es?"}, {"role": "assistant", "content": "Acht Uhr."}]
    rows = [{"messages": turns}, {"messages": [{"role": "user", "content": "Hallo?"}, {"role": "assistant", "content": "Ja."}]}]

    submission = submit_de(jsonl(rows), kind="conversation")

    assert submission.errors[0]["message"] == "message 1: field 'role' is '<EMAIL>'; use one of system, user, assistant"
    assert "anna@firma.de" not in json.dumps(submission.errors)


def test_a_failure_quotes_no_personal_data(submit_de):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        inner = tarfile.TarInfo(f"kontakt-{email(4)}.zip")
        inner.size = 4
        archive.addfile(inner, io.BytesIO(b"PK\x03\x04"))

    submission = submit_de(buffer.getvalue(), name="nested.tar")

    assert submission.status == Submission.Status.FAILED
    assert submission.failure == "Archive member '<EMAIL>' is itself an archive; nested archives are refused."
    assert email(4) not in json.dumps(submission.failure_message)


def test_a_failed_check_logs_and_keeps_no_record_text(submit_de, monkeypatch, caplog):
    def quoting(kind, contents, **kwargs):
        raise ValueError(f"cannot check {contents[0]['text']!r}")  # as a library's error may quote its input

    monkeypatch.setattr(ingest_chunk, "check_records", quoting)
    record, planted = planted_record(5, "Ein Satz.")

    with caplog.at_level(logging.INFO):
        submission = submit_de(jsonl([record]))

    assert submission.rejection_reasons == {"check_failed": 1}
    assert "ValueError" in caplog.text and "check failed on submission" in caplog.text
    assert not [value for value in planted if value in caplog.text]


def test_a_failed_ingest_step_logs_no_record_text(member_a, partner_a, german, monkeypatch, caplog):
    submission = submit(user=member_a, partner=partner_a, language=german, content=jsonl([{"text": "Ein Satz."}]))

    def quoting(**kwargs):
        raise ValueError(f"DETAIL: the row ({email(6)}) was refused")  # as a database error quotes the row

    monkeypatch.setattr("annotation.services.ingest.ingest_chunk_process", quoting)
    with caplog.at_level(logging.INFO):
        ingest_chunk_task.apply(args=(1, submission.pk))

    submission.refresh_from_db()
    assert submission.status == Submission.Status.FAILED
    assert "ValueError" in caplog.text and email(6) not in caplog.text


@pytest.mark.parametrize("name", ["data.csv", "data.jsonl"])
def test_formats_keep_no_personal_data(submit_de, name):
    texts = documents(3, seed=23)
    records, planted = zip(*(planted_record(10 + i, text) for i, text in enumerate(texts)))
    if name.endswith(".csv"):
        rows = [{**r, "meta": json.dumps(r["meta"])} for r in records]
        content = "id,text,meta\n" + "".join(_csv_row(row) for row in rows)
    else:
        content = jsonl(records)

    submission = submit_de(content, name=name)

    assert submission.records_accepted == 3
    assert submission.pii_redactions == sum(len(p) + 1 for p in planted)  # the id's address is the text's
    assert stored_hits([value for values in planted for value in values]) == []


def _csv_row(row: dict) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([row["id"], row["text"], row["meta"]])
    return buffer.getvalue()


@pytest.mark.worker
def test_nothing_planted_is_kept_after_ingest_through_the_worker(celery_worker, member_a, partner_a, german, caplog):
    texts = iter(documents(360, seed=24))
    planted = []

    def records(n):
        made = [planted_record(len(planted) + i, next(texts)) for i in range(n)]
        planted.extend(value for _record, values in made for value in values)
        return [record for record, _values in made]

    def stored_zip(members: dict) -> bytes:  # uncompressed, so a kept archive shows its planted bytes
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        return buffer.getvalue()

    csv_rows = [{**r, "meta": json.dumps(r["meta"])} for r in records(50)]
    files = {
        "data.jsonl": jsonl(records(150)).encode(),
        "data.csv": ("id,text,meta\n" + "".join(_csv_row(row) for row in csv_rows)).encode(),
        "data.jsonl.gz": gzip.compress(jsonl(records(50)).encode(), compresslevel=0),
        "briefe.zip": stored_zip({"more.jsonl": jsonl(records(50)).encode(), f"{email(9999)}.txt": next(texts).encode()}),
    }
    planted.append(email(9999))
    submissions = [submit(user=member_a, partner=partner_a, language=german, content=data, name=name)
                   for name, data in files.items()]  # fmt: skip
    resumable = jsonl(records(50)).encode()
    upload = upload_create(owner=member_a, filename="stueckweise.jsonl", length=len(resumable))
    upload_append(upload=upload, offset=0, stream=io.BytesIO(resumable), content_length=len(resumable))
    submissions.append(submission_create_from_upload(
        upload=upload, uploader=member_a, partner=partner_a, language=german, kind="pretraining",
        license="CC-BY-4.0", source="Written for the tests.", consent=True,
    ))  # fmt: skip

    with caplog.at_level(logging.INFO):
        for submission in submissions:
            wait_for(lambda: Submission.objects.get(pk=submission.pk).is_finished, timeout=120)

    ingested = Submission.objects.filter(pk__in=[s.pk for s in submissions])
    assert {s.status for s in ingested} == {Submission.Status.READY}, [s.failure for s in ingested]
    assert sum(s.records_accepted for s in ingested) == 351
    assert stored_hits(planted) == []
    assert not [value for value in planted if value in caplog.text]
