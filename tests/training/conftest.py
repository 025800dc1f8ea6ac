"""Snapshot fixtures: real ingested records, accepted by a queryset update until review decides."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from annotation.models import Assignment, Record
from annotation.services.review import certification_grant, queue_create, review_submit
from tests.annotation.ingest_helpers import ingest_now, jsonl, submit
from tests.conftest import make_user
from tests.annotation.texts import documents


def accept(submission):
    Record.objects.filter(submission=submission).update(status=Record.Status.ACCEPTED)
    return submission


@pytest.fixture(autouse=True)
def _snapshots_in_tmp(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"


@pytest.fixture
def ingested(member_a):
    """Ingest rows for a partner and language, and accept them."""

    def run(rows, *, partner, language, kind="pretraining", license="CC-BY-4.0", user=None, accepted=True):
        submission = ingest_now(
            submit(user=user or member_a, partner=partner, language=language, content=jsonl(rows), kind=kind, license=license)
        )
        return accept(submission) if accepted else submission

    return run


@pytest.fixture
def corpus(ingested, partner_a, partner_b, member_b, german, french):
    """60 German documents from Alpha, 30 French from Beta."""
    de = ingested([{"text": t} for t in documents(60, "de", seed=1)], partner=partner_a, language=german)
    fr = ingested([{"text": t} for t in documents(30, "fr", seed=2)], partner=partner_b, language=french, user=member_b)
    return {"de": de, "fr": fr}


@pytest.fixture
def edit(staff):
    """Edit a record as a certified annotator does in review: ``edit(record, content, name=…)`` → the edit record.

    The answer is one of two a queue wants, so it decides nothing about the
    original; the edit waits for review like new content.
    """
    queues = {}

    def run(record, content, *, name="ulla"):
        annotator = get_user_model().objects.filter(username=name).first() or make_user(name)
        certification_grant(granter=staff, user=annotator, language_code=record.language.code)
        if record.kind not in queues:
            queues[record.kind] = queue_create(creator=staff, language=record.language, kind=record.kind,
                                               name=f"edits {record.kind}", overlap=2, consensus=2)
        assignment = Assignment.objects.create(queue=queues[record.kind], record=record, annotator=annotator,
                                               leased_until=timezone.now() + timedelta(minutes=5))
        return review_submit(assignment=assignment, action="edit", edited_content=content).edit_record

    return run
