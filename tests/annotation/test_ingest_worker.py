"""Ingest through the real broker (Redis) and a real Celery worker."""

from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import IngestChunk, Record, Submission
from annotation.services import ingest
from annotation.tasks import ingest_chunk, ingest_submission, ingest_sweep

from ..conftest import broker_unreachable, wait_for
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


def test_a_submission_made_while_the_broker_was_away_is_ingested_once_the_sweeper_sends_it(
    celery_worker, client, member_a, german, upload
):  # fmt: skip
    client.force_login(member_a)
    with broker_unreachable():
        response = client.post("/api/submissions/", {
            "file": upload(jsonl({"text": t} for t in documents(20, seed=5))), "partner": "alpha", "language": "de",
            "kind": "pretraining", "license": "CC-BY-4.0", "source": "Written for the tests.", "consent": "true",
        })  # fmt: skip
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "received"
    submission = Submission.objects.get(pk=response.json()["id"])
    Submission.objects.filter(pk=submission.pk).update(created_at=timezone.now() - timedelta(minutes=3))

    assert ingest_sweep() == 1  # the broker is back

    wait_for(finished(submission), timeout=120)
    assert (submission.status, submission.records_accepted) == (Submission.Status.READY, 20)


def test_the_chunks_a_killed_worker_held_are_ingested_after_a_sweep(celery_worker, member_a, partner_a, german):
    with broker_unreachable():  # no message: the worker that would have had it is dead
        submission = submit(user=member_a, partner=partner_a, language=german,
                            content=jsonl({"text": t} for t in documents(300, seed=6)))  # fmt: skip
    ingest.ingest_start(submission_id=submission.pk)
    chunks = list(submission.chunks.order_by("index"))
    for chunk in chunks[:-2]:
        ingest.ingest_chunk_process(chunk_id=chunk.pk)
    for chunk in chunks[-2:]:  # claimed, then kill -9: their messages sit unacknowledged
        assert ingest.chunk_claim(chunk_id=chunk.pk) is not None
    submission.chunks.update(heartbeat_at=timezone.now() - timedelta(minutes=6))

    assert ingest_sweep() == 2

    wait_for(finished(submission), timeout=120)
    assert submission.status == Submission.Status.READY, submission.failure
    assert submission.records_accepted == 300
    assert sorted(IngestChunk.objects.filter(pk__in=[c.pk for c in chunks[-2:]]).values_list("attempts", flat=True)) == [2, 2]
