"""Ingest through the real broker (Redis) and a real Celery worker."""

import pytest

from annotation.models import Record, Submission
from annotation.tasks import ingest_chunk, ingest_submission

from ..conftest import wait_for
from .ingest_helpers import english, jsonl, submit
from .texts import documents

pytestmark = pytest.mark.worker


def finished(submission):
    def check():
        submission.refresh_from_db()
        return submission.is_finished

    return check


def test_worker_ingests_a_chunked_upload(celery_worker, member_a, partner_a, german):
    rows = [{"text": t} for t in documents(300)]
    content = jsonl(rows[:150]) + "not json\n" + jsonl(rows[150:])
    submission = submit(user=member_a, partner=partner_a, language=german, content=content)

    wait_for(finished(submission), timeout=120)
    assert submission.status == Submission.Status.READY, submission.failure
    assert submission.chunks_total > 1 and submission.chunks_done == submission.chunks_total
    assert (submission.records_read, submission.records_accepted) == (301, 300)
    assert english(submission.errors) == [{"line": 151, "message": "invalid JSON: Expecting value (column 1)"}]


def test_duplicate_deliveries_store_each_record_once(celery_worker, member_a, partner_a, german):
    submission = submit(user=member_a, partner=partner_a, language=german, content=jsonl({"text": t} for t in documents(200, seed=3)))
    ingest_submission.delay(submission.pk)  # the broker delivers the plan twice
    wait_for(lambda: Submission.objects.get(pk=submission.pk).chunks_total > 0)
    for chunk in submission.chunks.all():
        ingest_chunk.delay(chunk.pk, submission.pk)  # and each chunk once more

    wait_for(finished(submission), timeout=120)
    assert submission.status == Submission.Status.READY
    assert (submission.records_accepted, submission.exact_duplicates) == (200, 0)
    assert Record.objects.filter(submission=submission).count() == 200


def test_a_broken_upload_does_not_stop_the_worker(celery_worker, member_a, partner_a, german):
    broken = submit(user=member_a, partner=partner_a, language=german, content=b"\xff\xfe\x00garbage", name="x.jsonl.gz")
    good = submit(user=member_a, partner=partner_a, language=german, content=jsonl({"text": t} for t in documents(5, seed=4)))
    wait_for(finished(broken))
    wait_for(finished(good))
    assert broken.status == Submission.Status.FAILED and broken.failure
    assert good.status == Submission.Status.READY
