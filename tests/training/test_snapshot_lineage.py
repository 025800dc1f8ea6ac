"""Comparing versions, withdrawing data, the build command and the worker task."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from annotation.models import Record
from tests.annotation.texts import documents
from tests.conftest import wait_for
from training.models import Snapshot, Withdrawal
from training.services.lineage import snapshot_compare
from training.services.snapshot_build import snapshot_build
from training.services.snapshots import snapshot_create
from training.services.withdrawals import snapshots_containing, withdrawal_create


def build(name="lin", **params):
    params.setdefault("languages", ["de", "fr"])
    snapshot = snapshot_create(name=name, license="CC-BY-4.0", parameters=params, enqueue=False)
    return snapshot_build(snapshot_id=snapshot.pk)


def test_compare_versions_per_language_and_partner(corpus, ingested, partner_a, german):
    first = build()
    # Records outside any near-duplicate cluster, so no other record stands in for them.
    alone = Record.objects.filter(submission=corpus["fr"], near_duplicate_of__isnull=True, near_duplicates__isnull=True)
    removed_ids = list(alone.order_by("id").values_list("pk", flat=True)[:3])
    Record.objects.filter(pk__in=removed_ids).update(status=Record.Status.REJECTED)
    new = ingested([{"text": t} for t in documents(7, seed=99)], partner=partner_a, language=german)
    added = Record.objects.filter(submission=new, near_duplicate_of__isnull=True).count()
    second = build()

    diff = snapshot_compare(old=first, new=second)
    assert added >= 4
    assert diff["added"] == [{"language": "de", "partner": "alpha", "records": added}]
    assert diff["removed"] == [{"language": "fr", "partner": "beta", "records": 3}]
    assert diff["totals"] == {"added": added, "removed": 3}


def test_withdrawal_of_a_submission_and_of_a_record(corpus, member_a, member_b):
    before = build()
    record = Record.objects.filter(submission=corpus["fr"], near_duplicate_of__isnull=True).order_by("id").first()

    whole = withdrawal_create(user=member_a, submission=corpus["de"], reason="Rights ended.")
    single = withdrawal_create(user=member_b, submission=corpus["fr"], record=record)
    assert whole.records_withdrawn == 60 and single.records_withdrawn == 1
    assert not Record.objects.filter(submission=corpus["de"]).exclude(status="withdrawn").exists()

    after = build()
    assert "de" not in after.counts
    assert record.pk not in {r for r in _ids(after)}
    assert snapshots_containing(whole) == [before]
    assert snapshots_containing(single) == [before]

    # Even a snapshot that takes every status leaves withdrawn records out.
    wide = build(statuses=["accepted", "pending", "rejected"])
    assert "de" not in wide.counts

    # Even if some later code set the records' status back, the withdrawal rows keep them out.
    Record.objects.filter(pk=record.pk).update(status=Record.Status.ACCEPTED)
    Record.objects.filter(submission=corpus["de"]).update(status=Record.Status.ACCEPTED)
    again = build()
    assert "de" not in again.counts and record.pk not in set(_ids(again))


def test_withdrawing_a_record_takes_its_edits_along(corpus, member_b, edit):
    alone = Record.objects.filter(submission=corpus["fr"], near_duplicate_of__isnull=True, near_duplicates__isnull=True)
    record = alone.order_by("id").first()
    plain = build(name="plain")
    first = edit(record, {"text": documents(1, "fr", seed=97)[0]})
    second = edit(first, {"text": documents(1, "fr", seed=98)[0]}, name="udo")
    Record.objects.filter(pk__in=[first.pk, second.pk]).update(status=Record.Status.ACCEPTED)
    edited = build(name="edited")
    assert second.pk in _ids(edited) and not {record.pk, first.pk} & set(_ids(edited))
    untouched = build(name="de-only", languages=["de"])

    single = withdrawal_create(user=member_b, submission=corpus["fr"], record=record)
    assert single.records_withdrawn == 1
    # The snapshot that holds only the edit of an edit is listed too, newest first.
    assert snapshots_containing(single) == [edited, plain] and untouched not in snapshots_containing(single)
    assert not {record.pk, first.pk, second.pk} & set(_ids(build(name="after")))


def test_withdrawing_an_edit_or_the_submission_it_was_written_in_lists_the_snapshots_holding_it(corpus, staff, edit):
    alone = Record.objects.filter(submission=corpus["fr"], near_duplicate_of__isnull=True, near_duplicates__isnull=True)
    record = alone.order_by("id").first()
    correction = edit(record, {"text": documents(1, "fr", seed=97)[0]})
    Record.objects.filter(pk=correction.pk).update(status=Record.Status.ACCEPTED)
    edited = build(name="edited")
    assert correction.pk in _ids(edited)  # credited to the original's submission, not to the annotator's
    build(name="de-only", languages=["de"])

    of_the_edit = withdrawal_create(user=staff, submission=correction.submission, record=correction)
    assert snapshots_containing(of_the_edit) == [edited]
    of_the_writing = withdrawal_create(user=staff, submission=correction.submission)
    assert snapshots_containing(of_the_writing) == [edited]


def test_withdrawing_a_record_of_another_submission_is_refused(corpus, member_a):
    record = Record.objects.filter(submission=corpus["fr"]).first()
    with pytest.raises(Exception, match="not part of this submission"):
        withdrawal_create(user=member_a, submission=corpus["de"], record=record)
    assert not Withdrawal.objects.exists()


def _ids(snapshot):
    import pyarrow.parquet as pq

    return [i for f in Path(snapshot.uri).glob("*/*.parquet") for i in pq.read_table(f, columns=["record_id"])["record_id"].to_pylist()]


def test_build_snapshot_command_prints_one_json_object(corpus, staff):
    out = StringIO()
    call_command("build_snapshot", "cli", "--languages", "de,fr", "--seed", "3", "--license", "CC-BY-4.0", "--by", "sam",
                 "--wait", stdout=out)
    result = json.loads(out.getvalue())
    snapshot = Snapshot.objects.get(name="cli")
    assert result["snapshot"] == "cli@1" and result["version"] == 1 and result["status"] == "ready"
    assert result["path"] == snapshot.uri and Path(result["path"], "manifest.json").is_file()
    assert result["sha256"] == snapshot.manifest_sha256
    assert sum(result["records"]["de"].values()) == corpus["de"].records.filter(near_duplicate_of__isnull=True).count()
    assert result["tokens"]["de"]["train"] == snapshot.counts["de"]["train"]["tokens"]


def test_build_snapshot_command_reports_license_conflicts(ingested, partner_a, german, staff):
    from django.core.management.base import CommandError

    ingested([{"text": t} for t in documents(3, seed=5)], partner=partner_a, language=german, license="CC-BY-NC-4.0")
    with pytest.raises(CommandError, match="conflicts"):
        call_command("build_snapshot", "cli", "--languages", "de", "--by", "sam", "--wait", stdout=StringIO())
    out = StringIO()
    call_command("build_snapshot", "cli", "--languages", "de", "--by", "sam", "--wait", "--override-reason",
                 "Board decision 12.", stdout=out)
    assert json.loads(out.getvalue())["status"] == "ready"


@pytest.mark.worker
def test_the_worker_builds_a_queued_snapshot(celery_worker, ingested, partner_a, german):
    ingested([{"text": t} for t in documents(12, seed=8)], partner=partner_a, language=german)
    snapshot = snapshot_create(name="queued", license="CC-BY-4.0", parameters={"languages": ["de"]})
    built = wait_for(lambda: Snapshot.objects.filter(pk=snapshot.pk, status__in=["ready", "failed"]).first(), timeout=60)
    assert built.status == Snapshot.Status.READY, built.failure
    assert built.progress == 100 and Path(built.uri, "manifest.json").is_file()


def test_the_task_is_idempotent_and_redoes_a_dead_build(ingested, partner_a, german):
    from training.tasks import snapshot_build as task

    ingested([{"text": t} for t in documents(6, seed=9)], partner=partner_a, language=german)
    snapshot = snapshot_create(name="again", license="CC-BY-4.0", parameters={"languages": ["de"]}, enqueue=False)
    task.apply(args=[snapshot.pk])
    ready = Snapshot.objects.get(pk=snapshot.pk)
    assert ready.status == Snapshot.Status.READY
    manifest = Path(ready.uri, "manifest.json").read_bytes()

    task.apply(args=[snapshot.pk])  # a redelivered message: nothing changes
    assert Path(ready.uri, "manifest.json").read_bytes() == manifest
    assert Snapshot.objects.get(pk=snapshot.pk).finished_at == ready.finished_at

    # A worker died mid-build: the row says building and a half-written folder is left.
    crashed = snapshot_create(name="crashed", license="CC-BY-4.0", parameters={"languages": ["de"]}, enqueue=False)
    Snapshot.objects.filter(pk=crashed.pk).update(status=Snapshot.Status.BUILDING, progress=40)
    from training.services.snapshot_build import snapshot_path

    leftover = snapshot_path("crashed", 1).with_name(".1.building")
    leftover.mkdir(parents=True)
    (leftover / "junk.parquet").write_bytes(b"half")
    task.apply(args=[crashed.pk])
    rebuilt = Snapshot.objects.get(pk=crashed.pk)
    assert rebuilt.status == Snapshot.Status.READY and not leftover.exists()
    assert not list(Path(rebuilt.uri).rglob("junk.parquet"))
