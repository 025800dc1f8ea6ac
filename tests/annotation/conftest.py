"""Actors and data for the review tests: a language lead, certified annotators, queues of records."""

import hashlib
import itertools
import uuid

import pytest

from annotation.models import Record, Submission
from annotation.services.review import certification_grant, queue_create
from occiportal.models import LanguageRole

from .ingest_helpers import ingest_now, jsonl, submit
from ..conftest import make_user

_lines = itertools.count(1)


def make_records(submission, n, **fields):
    """``n`` records of ``submission``, as ingest would leave them (pending)."""
    made = []
    for _ in range(n):
        line = next(_lines)
        content = {"prompt": f"Frage {line}?", "response": f"Antwort {line}."}
        if submission.kind == "pretraining":
            content = {"text": f"Dokument {line}."}
        made.append(Record(
            submission=submission, line=line, language=submission.language, kind=submission.kind, content=content,
            content_hash=hashlib.md5(f"{submission.pk}:{line}".encode()).hexdigest(), **fields,
        ))
    return Record.objects.bulk_create(made)


def bare_submission(*, partner, uploader, language, kind="instruction"):
    """A submission row without its upload: for tests that commit, where a
    Celery worker left by another test would otherwise ingest the file."""
    return Submission.objects.create(
        uuid=uuid.uuid4(), partner=partner, uploader=uploader, language=language, kind=kind, license="CC0-1.0",
        source="Written for the tests.", consent=True, file="uploads/none.jsonl", original_name="none.jsonl",
        status=Submission.Status.READY,
    )


def make_lead(username, language):
    user = make_user(username)
    LanguageRole.objects.create(user=user, language=language, role=LanguageRole.Role.LEAD)
    return user


@pytest.fixture
def lead_de(german):
    return make_lead("lena", german)


@pytest.fixture
def annotator_for(lead_de, staff):
    """Make a user certified for a language code (granted by staff, who may certify any)."""

    def build(username, code="de"):
        user = make_user(username)
        certification_grant(granter=staff, user=user, language_code=code)
        return user

    return build


@pytest.fixture
def submission_de(partner_a, member_a, german):
    # A `db` test never commits, so the ingest task this queues never runs.
    return submit(user=member_a, partner=partner_a, language=german, kind="instruction",
                  content=jsonl([{"prompt": "Wie spät ist es?", "response": "Es ist acht Uhr."}]))


@pytest.fixture
def queue_de(lead_de, german, submission_de):
    return queue_create(
        creator=lead_de, language=german, kind="instruction", name="Deutsch: Anweisungen",
        guidelines="# Richtlinien\n\nAkzeptieren Sie **nur** korrekte Antworten.",
        rating_scales=["fluency", "correctness"],
    )


@pytest.fixture
def submit_de(member_a, partner_a, german):
    """Submit German content (``name`` picks the format) and ingest it in this process."""

    def run(content, name="data.jsonl", **kwargs):
        return ingest_now(submit(user=member_a, partner=partner_a, language=german, content=content, name=name, **kwargs))

    return run
