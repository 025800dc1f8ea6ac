"""The uploaded file's lifecycle: deleted when ingested, on withdrawal, and after a failure's retention."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from annotation.models import Submission
from annotation.services import ingest
from annotation.services.originals import originals_expire
from training.services.withdrawals import withdrawal_create

from .ingest_helpers import jsonl, submit
from .texts import documents

Reason = Submission.OriginalDeleted


def stored(submission) -> set[str]:
    """The storage names the submission's upload and spools still have."""
    names = {submission.file.name, *submission.chunks.values_list("path", flat=True)}
    return {name for name in names if default_storage.exists(name)}


def failed(submit_de, *, finished_days_ago: float) -> Submission:
    submission = submit_de("not json\n")
    assert submission.status == Submission.Status.FAILED and stored(submission)
    submission.finished_at -= timedelta(days=finished_days_ago)
    submission.save(update_fields=["finished_at"])
    return submission


def test_a_ready_submission_keeps_no_original_nor_spool(submit_de):
    for name, content in [("data.jsonl", jsonl({"text": t} for t in documents(3, seed=31))),
                          ("data.txt", "\n\n".join(documents(3, seed=32)))]:  # fmt: skip
        submission = submit_de(content, name=name)

        assert submission.status == Submission.Status.READY
        assert stored(submission) == set()
        assert submission.original_deleted_at and submission.original_deleted_reason == Reason.INGESTED


def test_a_failed_submissions_original_is_kept_for_the_retention_then_deleted(submit_de, settings):
    settings.INGEST = {**settings.INGEST, "ORIGINAL_RETENTION_DAYS": 7}
    young = failed(submit_de, finished_days_ago=6.9)
    old = failed(submit_de, finished_days_ago=7.1)

    assert originals_expire() == 1

    young.refresh_from_db(), old.refresh_from_db()
    assert stored(young) and young.original_deleted_at is None
    assert stored(old) == set() and old.original_deleted_reason == Reason.RETENTION
    assert originals_expire() == 0  # the next run finds nothing to do


def test_withdrawing_a_submission_deletes_its_original_at_once(submit_de, member_a):
    submission = failed(submit_de, finished_days_ago=0)

    withdrawal_create(user=member_a, submission=submission)

    submission.refresh_from_db()
    assert stored(submission) == set() and submission.original_deleted_reason == Reason.WITHDRAWN


def test_the_sweep_deletes_what_a_cut_short_step_left(submit_de):
    submission = submit_de(jsonl({"text": t} for t in documents(2, seed=33)))
    default_storage.save(submission.file.name, ContentFile(b"{}"))  # as if the worker died before deleting it
    Submission.objects.filter(pk=submission.pk).update(original_deleted_at=None, original_deleted_reason="")

    assert originals_expire() == 1
    assert stored(submission) == set()


def test_the_page_says_when_and_why_the_original_was_deleted(client, member_a, submit_de):
    client.force_login(member_a)
    ready = submit_de(jsonl({"text": t} for t in documents(2, seed=34)))
    failing = failed(submit_de, finished_days_ago=0)

    ready_page = client.get(f"/submissions/{ready.pk}/").content.decode()
    failed_page = client.get(f"/submissions/{failing.pk}/").content.decode()

    assert "its records are stored, redacted." in ready_page
    assert "to show what went wrong, then deleted." in failed_page
    german = client.get(f"/submissions/{ready.pk}/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "seine Datensätze sind gespeichert, geschwärzt." in german


def test_a_spool_no_chunk_names_is_not_left_behind(member_a, partner_a, german, monkeypatch, settings):
    submission = submit(user=member_a, partner=partner_a, language=german, content="text\nEin Satz.\n", name="data.csv")

    def fails(*args):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(ingest, "_chunks_create", fails)
    with pytest.raises(RuntimeError):
        ingest.ingest_start(submission_id=submission.pk)

    folder = Path(settings.MEDIA_ROOT) / submission.file.name.rsplit("/", 1)[0]
    assert [path.name for path in folder.iterdir()] == ["data.csv"]  # the upload, kept for the retry
