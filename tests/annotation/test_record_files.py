"""Pretraining text and quality signals in one Parquet file per ingest chunk; the row keeps what queries filter on."""

import pyarrow.parquet as pq
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from annotation.corpus import record_files
from annotation.ingest.messages import Message
from annotation.models import IngestChunk, Record
from annotation.selectors import records_sample
from annotation.services import ingest
from annotation.services.ingest_chunk import process_chunk_records
from annotation.services.review import queue_create, review_item_claim
from annotation.text_selectors import record_text_read
from tests.training.withdraw_helpers import follow_up
from training.services.withdrawals import withdrawal_create

from .ingest_helpers import jsonl, submit
from .texts import documents

pytestmark = pytest.mark.django_db


def _file_lines(chunk: IngestChunk) -> list[int]:
    return record_files.read(default_storage, chunk.records_file, ["line"]).column("line").to_pylist()


def test_the_chunk_file_holds_text_and_typed_signals_and_the_row_holds_none(submit_de):
    docs = documents(30)
    submission = submit_de(jsonl({"text": t} for t in docs))

    chunk = submission.chunks.get()
    assert chunk.records_file.startswith(f"records/{submission.pk}/0-") and chunk.records_file.endswith(".parquet")
    with default_storage.open(chunk.records_file, "rb") as stream:
        parquet = pq.ParquetFile(stream)
        assert parquet.schema_arrow == record_files.SCHEMA
        assert parquet.metadata.row_group(0).column(1).compression == "ZSTD"
    texts = record_files.texts(default_storage, chunk.records_file)
    assert texts == dict(enumerate(docs, 1))
    records = Record.objects.filter(submission=submission)
    assert {str(r.content) for r in records} == {"{}"}
    first = records.get(line=1)
    words = record_files.read(default_storage, chunk.records_file, ["words"]).column("words")[0].as_py()
    assert first.quality_words == first.quality["words"] == words > 10
    assert record_text_read(first) == {"text": docs[0]}


def test_other_kinds_keep_their_content_in_the_row_and_write_no_file(submit_de):
    submission = submit_de(jsonl([{"prompt": "Wie spät ist es?", "response": "Es ist acht Uhr."}]), kind="instruction")
    assert submission.chunks.get().records_file == ""
    assert Record.objects.get(submission=submission).content == {"prompt": "Wie spät ist es?", "response": "Es ist acht Uhr."}


def test_a_chunk_processed_again_has_each_record_once_in_one_file(
    member_a, partner_a, german, settings, django_capture_on_commit_callbacks
):
    settings.INGEST = {**settings.INGEST, "BATCH_RECORDS": 10}
    submission = submit(user=member_a, partner=partner_a, language=german, content=jsonl({"text": t} for t in documents(40)))
    (chunk_id,) = ingest.ingest_start(submission_id=submission.pk)
    # A worker that stored every record and its file, then died before marking the chunk done.
    _stats, crashed = process_chunk_records(IngestChunk.objects.get(pk=chunk_id))
    with django_capture_on_commit_callbacks(execute=True):
        ingest.ingest_chunk_process(chunk_id=chunk_id)

    chunk = IngestChunk.objects.get(pk=chunk_id)
    assert chunk.records_file != crashed and not default_storage.exists(crashed)
    assert _file_lines(chunk) == list(range(1, 41))
    assert default_storage.listdir(f"records/{submission.pk}")[1] == [chunk.records_file.rpartition("/")[2]]


def test_withdrawing_a_record_rewrites_its_chunk_file_without_it(submit_de, member_a, django_capture_on_commit_callbacks):
    docs = documents(5)
    submission = submit_de(jsonl({"text": t} for t in docs))
    before = submission.chunks.get().records_file

    withdrawal_create(user=member_a, submission=submission, record=Record.objects.get(submission=submission, line=2))
    assert submission.chunks.get().records_file == before  # the request leaves the files to the worker
    with django_capture_on_commit_callbacks(execute=True):
        follow_up()

    after = submission.chunks.get().records_file
    assert after != before and not default_storage.exists(before)
    assert record_files.texts(default_storage, after) == {1: docs[0], 3: docs[2], 4: docs[3], 5: docs[4]}


def test_withdrawing_a_submission_deletes_its_chunk_files(submit_de, member_a, django_capture_on_commit_callbacks):
    submission = submit_de(jsonl({"text": t} for t in documents(5)))
    before = submission.chunks.get().records_file

    withdrawal_create(user=member_a, submission=submission)
    with django_capture_on_commit_callbacks(execute=True):
        follow_up()

    assert submission.chunks.get().records_file == "" and not default_storage.exists(before)


def test_files_of_attempts_that_never_became_current_go_on_withdrawal_and_failure(
    submit_de, member_a, django_capture_on_commit_callbacks
):
    def orphan(submission) -> str:  # an attempt that saved its file, then died before the chunk pointed at it
        return default_storage.save(record_files.file_name(submission.pk, 0), ContentFile(b"redacted text"))

    withdrawn = submit_de(jsonl({"text": t} for t in documents(5)))
    left = orphan(withdrawn)
    withdrawal_create(user=member_a, submission=withdrawn)
    with django_capture_on_commit_callbacks(execute=True):
        follow_up()
    assert not default_storage.exists(left)

    failed = submit(user=member_a, partner=withdrawn.partner, language=withdrawn.language,
                    content=jsonl({"text": t} for t in documents(3, seed=9)))  # fmt: skip
    left = orphan(failed)
    ingest.submission_fail(submission_id=failed.pk, reason=Message("stopped"))
    assert not default_storage.exists(left)


def test_a_sampled_record_claimed_for_review_gets_its_text_in_the_row(submit_de, lead_de, german, annotator_for):
    docs = documents(3)
    submission = submit_de(jsonl({"text": t} for t in docs))
    queue = queue_create(creator=lead_de, language=german, kind="pretraining", name="Stichprobe", sample_rate=0.5)

    assignment = review_item_claim(queue=queue, annotator=annotator_for("ulla"))

    stored = Record.objects.get(pk=assignment.record.pk)
    assert stored.content == assignment.record.content == {"text": docs[stored.line - 1]}
    assert Record.objects.filter(submission=submission, content={}).count() == 2


def test_the_submission_page_sample_shows_the_text_from_the_files(submit_de):
    docs = documents(4)
    submission = submit_de(jsonl({"text": t} for t in docs))
    assert [r.content for r in records_sample(submission)] == [{"text": t} for t in docs]


def test_a_chunk_that_stores_no_record_leaves_no_file(submit_de):
    submission = submit_de(jsonl([{"text": "   "}, {"nope": 1}]))
    assert submission.records_accepted == 0
    assert submission.chunks.get().records_file == "" and not default_storage.exists(f"records/{submission.pk}")
