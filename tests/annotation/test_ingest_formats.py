"""Every accepted format and encoding gives the same records."""

import codecs
import csv
import gzip
import io
import json
import tarfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.base import ContentFile

from annotation.ingest.containers import Budget, Limits, Member
from annotation.ingest.formats import iter_items
from annotation.models import Record, Submission
from annotation.text_selectors import record_text_read

from .ingest_helpers import jsonl, zipped
from .texts import documents

DOCS = documents(6)


def texts_of(submission):
    return sorted(record_text_read(r)["text"] for r in Record.objects.filter(submission=submission))


def tarred(members: dict, mode="w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def csv_text(rows, delimiter=","):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), delimiter=delimiter)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def parquet_bytes(rows) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer)
    return buffer.getvalue()


BODY = jsonl({"text": t} for t in DOCS)


@pytest.mark.parametrize(
    "name,content",
    [
        ("docs.jsonl", BODY.encode()),
        ("docs.jsonl", b"\xef\xbb\xbf" + BODY.encode()),
        ("docs.jsonl", BODY.encode("utf-16")),
        ("docs.jsonl", BODY.encode("utf-16-le")),
        ("docs.csv", csv_text([{"text": t} for t in DOCS]).encode()),
        ("docs.tsv", csv_text([{"text": t} for t in DOCS], "\t").encode()),
        ("docs.txt", "\n\n".join(DOCS).encode()),
        ("docs.parquet", parquet_bytes([{"text": t} for t in DOCS])),
        ("docs.jsonl.gz", gzip.compress(BODY.encode())),
        ("docs.zip", zipped({"a/part1.jsonl": jsonl({"text": t} for t in DOCS[:3]), "part2.csv": csv_text([{"text": t} for t in DOCS[3:]])})),
        ("docs.zip", zipped({f"doc{i}.txt": t for i, t in enumerate(DOCS)})),
        ("docs.tar.gz", tarred({"part1.jsonl": jsonl({"text": t} for t in DOCS[:3]).encode(), "part2.parquet": parquet_bytes([{"text": t} for t in DOCS[3:]])})),
    ],
    ids=["jsonl", "utf8-bom", "utf16-bom", "utf16-le-no-bom", "csv", "tsv", "txt", "parquet", "gz", "zip", "zip-txt", "tar.gz"],
)
def test_formats_give_the_same_records(submit_de, name, content):
    submission = submit_de(content, name)
    assert submission.status == Submission.Status.READY, submission.failure
    assert texts_of(submission) == sorted(DOCS)


def test_instruction_pairs_from_csv_and_evaluation_items(submit_de):
    pairs = [{"prompt": f"Frage {i}: Wie heißt die Hauptstadt von Deutschland?", "response": f"Berlin ist die Hauptstadt. ({i})"} for i in range(3)]
    submission = submit_de(csv_text(pairs).encode(), "pairs.csv", kind="instruction")
    assert submission.records_accepted == 3
    assert Record.objects.filter(submission=submission, kind="instruction").first().content.keys() == {"prompt", "response"}

    items = [{"question": "Welche Farbe hat der Himmel?", "choices": "blau|grün|rot", "answer": "0"}]
    evaluation = submit_de(csv_text(items).encode(), "items.csv", kind="evaluation")
    assert evaluation.records_accepted == 1
    assert Record.objects.get(submission=evaluation).content == {"question": "Welche Farbe hat der Himmel?", "choices": ["blau", "grün", "rot"], "answer": 0}


def test_conversations(submit_de):
    conversation = {"messages": [{"role": "user", "content": "Hallo, wie geht es dir heute?"}, {"role": "assistant", "content": "Mir geht es gut, danke der Nachfrage."}], "id": 7, "meta": {"source": "chat"}}
    submission = submit_de(jsonl([conversation]), "chat.jsonl", kind="conversation")
    record = Record.objects.get(submission=submission)
    assert record.content["messages"][1]["role"] == "assistant"
    assert (record.external_id, record.meta) == ("7", {"source": "chat"})


def test_archive_errors_name_the_member_and_line(submit_de):
    content = zipped({"part1.jsonl": jsonl({"text": t} for t in DOCS[:2]) + "{oops\n"})
    submission = submit_de(content, "docs.zip")
    assert submission.records_accepted == 2
    assert submission.errors[0]["line"] == 3 and submission.errors[0]["file"] == "part1.jsonl"


# Excel's "CSV UTF-8" starts with a UTF-8 BOM; its "Unicode Text" is UTF-16 LE
# with a BOM, tab-separated. Uploaded as they are, not inside an archive.
ROWS = [{"id": f"doc-{i}", "text": t} for i, t in enumerate(DOCS)]
UTF16_LE = codecs.BOM_UTF16_LE


@pytest.mark.parametrize(
    "name,content",
    [
        ("docs.csv", codecs.BOM_UTF8 + csv_text(ROWS).encode()),
        ("docs.csv", UTF16_LE + csv_text(ROWS).encode("utf-16-le")),
        ("docs.tsv", UTF16_LE + csv_text(ROWS, "\t").encode("utf-16-le")),
        ("docs.csv", csv_text(ROWS).encode("utf-16-be")),
    ],
    ids=["csv-utf8-bom", "csv-utf16-le-bom", "tsv-utf16-le-bom", "csv-utf16-be-no-bom"],
)
def test_a_plain_csv_upload_with_a_bom_or_in_utf16(submit_de, name, content):
    submission = submit_de(content, name)
    assert submission.status == Submission.Status.READY, submission.failure
    records = Record.objects.filter(submission=submission)
    assert sorted((r.external_id, record_text_read(r)["text"]) for r in records) == sorted((r["id"], r["text"]) for r in ROWS)
    assert_no_bom(records)


def test_excel_csv_with_one_text_column(submit_de):
    text = "Ein deutscher Text über die Stadtbibliothek, die am Montag wieder öffnet."
    submission = submit_de(codecs.BOM_UTF8 + f'text\n"{text}"\n'.encode(), "excel.csv")
    assert submission.status == Submission.Status.READY, submission.failure
    assert texts_of(submission) == [text]


@pytest.mark.parametrize(
    "content", [codecs.BOM_UTF8 + "\n\n".join(DOCS).encode(), "\n\n".join(DOCS).encode("utf-16")], ids=["utf8-bom", "utf16-bom"]
)
def test_a_plain_text_upload_with_a_bom(submit_de, content):
    submission = submit_de(content, "docs.txt")
    assert submission.status == Submission.Status.READY, submission.failure
    assert texts_of(submission) == sorted(DOCS)
    assert_no_bom(Record.objects.filter(submission=submission))


def assert_no_bom(records):
    stored = list(records.values("content", "external_id", "meta"))
    assert stored and "\ufeff" not in json.dumps(stored, ensure_ascii=False)


SAMPLES = {
    "jsonl": jsonl([{"text": "Hallo Welt"}]),
    "csv": "text,id\nHallo Welt,1\n",
    "tsv": "text\tid\nHallo Welt\t1\n",
    "text": "Hallo Welt",
}


def plain_member(fmt, stream) -> Member:
    return Member("", fmt, stream, Budget(Limits(max_expanded_bytes=10**6, max_ratio=200, max_members=10), "data", 10**6))


@pytest.mark.parametrize("fmt", SAMPLES)
@pytest.mark.parametrize("encode", [lambda s: codecs.BOM_UTF8 + s.encode(), lambda s: s.encode("utf-16")], ids=["utf8-bom", "utf16"])
@pytest.mark.parametrize("wrap", [ContentFile, lambda data: io.BufferedReader(io.BytesIO(data))], ids=["django-file", "buffered"])
def test_every_text_format_drops_the_bom_from_any_stream(fmt, encode, wrap):
    """A plain upload is a Django file, which cannot peek; archive members can."""
    items = list(iter_items(plain_member(fmt, wrap(encode(SAMPLES[fmt]))), max_record_bytes=1000))
    assert [item.error for item in items] == [None]
    assert items[0].data["text"] == "Hallo Welt"
    assert all(not str(key).startswith("\ufeff") for key in items[0].data)


def test_a_doubled_bom_stays_out_of_the_csv_header():
    data = codecs.BOM_UTF8 * 2 + b"text,id\nHallo Welt,1\n"
    [item] = iter_items(plain_member("csv", ContentFile(data)), max_record_bytes=1000)
    assert item.data == {"text": "Hallo Welt", "id": "1"}
