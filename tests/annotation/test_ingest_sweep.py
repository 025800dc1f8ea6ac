"""Chunk leases and the ingest sweeper: what a dead worker or an absent broker left behind is sent again."""

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from annotation.models import IngestChunk, Submission
from annotation.services import ingest, ingest_chunk
from annotation.services.ingest_sweep import ingest_sweep

from .ingest_helpers import jsonl, submit
from .texts import documents

pytestmark = pytest.mark.django_db


@pytest.fixture
def planned(member_a, partner_a, german):
    """A submission of several chunks, planned and not yet processed."""
    submission = submit(user=member_a, partner=partner_a, language=german, content=jsonl({"text": t} for t in documents(300)))
    ingest.ingest_start(submission_id=submission.pk)
    assert submission.chunks.count() > 2
    return submission


def ago(minutes):
    return timezone.now() - timedelta(minutes=minutes)


def worker_died(chunk, *, minutes=6):
    """A worker claimed ``chunk`` and was killed: its last heartbeat is ``minutes`` old."""
    assert ingest.chunk_claim(chunk_id=chunk.pk) is not None
    IngestChunk.objects.filter(pk=chunk.pk).update(heartbeat_at=ago(minutes))


def test_a_chunk_whose_worker_died_is_sent_again_within_minutes(planned):
    chunk = planned.chunks.get(index=1)
    worker_died(chunk)

    orders = ingest_sweep()

    assert orders.chunks == [(chunk.pk, planned.pk)]
    chunk.refresh_from_db()
    assert chunk.claimed_at is None and chunk.heartbeat_at > ago(1) and chunk.attempts == 1
    assert ingest_sweep().count == 0  # sent once: the next sweep waits for its new lease to run out
    assert ingest.ingest_chunk_process(chunk_id=chunk.pk) is False
    chunk.refresh_from_db()
    assert (chunk.status, chunk.attempts) == (IngestChunk.Status.DONE, 2)


def test_a_live_chunk_is_left_alone_and_a_duplicate_message_skips_it(planned):
    chunk = planned.chunks.get(index=0)
    assert ingest.chunk_claim(chunk_id=chunk.pk) is not None

    assert ingest_sweep().count == 0
    assert ingest.chunk_claim(chunk_id=chunk.pk) is None  # another worker beats on it
    assert IngestChunk.objects.get(pk=chunk.pk).attempts == 1


def test_a_chunk_that_kills_its_worker_every_time_fails_the_submission_naming_its_lines(planned):
    chunk, following = planned.chunks.get(index=1), planned.chunks.get(index=2)
    for _ in range(settings.INGEST["CHUNK_MAX_ATTEMPTS"]):
        worker_died(chunk)
        IngestChunk.objects.filter(pk=chunk.pk).update(claimed_at=None)  # as a sweep would leave it

    orders = ingest_sweep()

    assert orders.chunks == [] and orders.failed == 1
    planned.refresh_from_db()
    assert planned.status == Submission.Status.FAILED
    assert planned.failure == (
        f"Lines {chunk.first_line} to {following.first_line - 1} could not be processed: "
        "the worker stopped on them 3 times."
    )


def test_the_last_chunk_names_its_lines_to_the_end(planned):
    chunk = planned.chunks.order_by("index").last()
    IngestChunk.objects.filter(pk=chunk.pk).update(attempts=settings.INGEST["CHUNK_MAX_ATTEMPTS"])

    assert ingest.chunk_claim(chunk_id=chunk.pk) is None  # a late redelivery gives up too

    planned.refresh_from_db()
    assert planned.failure == f"The lines from {chunk.first_line} to the end could not be processed: the worker stopped on them 3 times."


def test_a_failed_try_releases_the_lease_for_the_tasks_retry(planned, monkeypatch):
    chunk = planned.chunks.get(index=0)

    def crash(chunk):
        raise OSError("storage away")

    monkeypatch.setattr(ingest, "process_chunk_records", crash)
    with pytest.raises(OSError):
        ingest.ingest_chunk_process(chunk_id=chunk.pk)
    monkeypatch.undo()

    assert ingest.ingest_chunk_process(chunk_id=chunk.pk) is False
    assert IngestChunk.objects.get(pk=chunk.pk).attempts == 2


def test_processing_beats_per_committed_batch(planned, settings, monkeypatch):
    settings.INGEST = {**settings.INGEST, "BATCH_RECORDS": 10}
    chunk = planned.chunks.get(index=0)
    seen, insert = [], ingest_chunk.records_insert

    def watched(rows):
        seen.append(IngestChunk.objects.get(pk=chunk.pk).heartbeat_at)
        return insert(rows)

    monkeypatch.setattr(ingest_chunk, "records_insert", watched)
    ingest.ingest_chunk_process(chunk_id=chunk.pk)

    assert len(seen) > 3 and seen == sorted(seen) and len(set(seen)) == len(seen)


def test_a_submission_the_broker_never_took_is_planned_after_a_grace(member_a, partner_a, german):
    # A `db` test never commits, so nothing was sent: as with a broker away.
    old = submit(user=member_a, partner=partner_a, language=german, content=jsonl([{"text": "Ein Text."}]))
    new = submit(user=member_a, partner=partner_a, language=german, content=jsonl([{"text": "Noch ein Text."}]))
    Submission.objects.filter(pk=old.pk).update(created_at=ago(3))

    assert ingest_sweep().plan == [old.pk]
    assert new.status == Submission.Status.RECEIVED


def test_a_planner_that_died_is_sent_again(member_a, partner_a, german):
    submission = submit(user=member_a, partner=partner_a, language=german, content=jsonl([{"text": "Ein Text."}]))
    Submission.objects.filter(pk=submission.pk).update(status=Submission.Status.PROCESSING, started_at=ago(10))
    assert ingest_sweep().plan == []

    Submission.objects.filter(pk=submission.pk).update(started_at=ago(31))
    assert ingest_sweep().plan == [submission.pk]


def test_a_submission_whose_chunks_are_done_but_never_finished_is_finished(planned):
    for chunk_id in planned.chunks.values_list("pk", flat=True):
        ingest.ingest_chunk_process(chunk_id=chunk_id)
    assert ingest_sweep().finish == []  # the finish task may still be on its way

    planned.chunks.update(heartbeat_at=ago(6))
    assert ingest_sweep().finish == [planned.pk]
    ingest.ingest_finish(submission_id=planned.pk)
    assert ingest_sweep().count == 0


@pytest.mark.django_db(transaction=True)
def test_two_sweepers_at_once_send_each_chunk_once(member_a, partner_a, german, broker_away):
    # The broker away: this committed submission leaves no message for a later test's worker.
    submission = submit(user=member_a, partner=partner_a, language=german, content=jsonl({"text": t} for t in documents(300)))
    ingest.ingest_start(submission_id=submission.pk)
    first, second = submission.chunks.order_by("index")[:2]
    for chunk in (first, second):
        worker_died(chunk)
    held, done = threading.Event(), threading.Event()

    def other_sweeper_holds(chunk_id):
        try:
            with transaction.atomic():
                IngestChunk.objects.select_for_update().get(pk=chunk_id)
                held.set()
                done.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=other_sweeper_holds, args=[first.pk])
    thread.start()
    held.wait(30)
    try:
        assert ingest_sweep().chunks == [(second.pk, submission.pk)]
    finally:
        done.set()
        thread.join()
    assert ingest_sweep().chunks == [(first.pk, submission.pk)]


def test_a_duplicate_plan_message_waits_for_the_planner_until_it_is_taken_for_dead(member_a, partner_a, german):
    submission = submit(user=member_a, partner=partner_a, language=german, content=jsonl([{"text": "Ein Text."}]))
    Submission.objects.filter(pk=submission.pk).update(status=Submission.Status.PROCESSING, started_at=ago(10))

    assert ingest.ingest_start(submission_id=submission.pk) == []  # another worker is planning it
    assert not submission.chunks.exists()

    Submission.objects.filter(pk=submission.pk).update(started_at=ago(31))
    assert len(ingest.ingest_start(submission_id=submission.pk)) == 1


def test_a_planning_error_puts_the_submission_back_for_the_tasks_retry(member_a, partner_a, german, monkeypatch):
    submission = submit(user=member_a, partner=partner_a, language=german, content=jsonl([{"text": "Ein Text."}]))

    def crash(submission):
        raise OSError("storage away")

    monkeypatch.setattr(ingest, "_plan", crash)
    with pytest.raises(OSError):
        ingest.ingest_start(submission_id=submission.pk)
    monkeypatch.undo()

    assert Submission.objects.get(pk=submission.pk).status == Submission.Status.RECEIVED
    assert len(ingest.ingest_start(submission_id=submission.pk)) == 1


def test_beat_runs_both_sweepers_every_minute_under_a_time_limit():
    from occiportal.celery import app

    app.loader.import_default_modules()
    every = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    for name in ("annotation.tasks.ingest_sweep", "training.run_tasks.runs_sweep"):
        assert every[name] <= 60 and app.tasks[name].time_limit <= 300
