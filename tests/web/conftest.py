"""Submissions as the pages see them: created through the service, then
given the figures and records that ingest would write."""

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.models import Record, Submission
from annotation.services.submissions import submission_create


def make_submission(*, partner, uploader, language, status=Submission.Status.READY, name="data.jsonl", **figures):
    # In a `db` test the transaction never commits, so no ingest is queued.
    submission = submission_create(
        uploader=uploader,
        partner=partner,
        language=language,
        kind="pretraining",
        license="CC-BY-4.0",
        source="Digitised newspapers, 1900–1950.",
        consent=True,
        file=SimpleUploadedFile(name, b'{"text": "Hallo Welt"}\n'),
    )
    Submission.objects.filter(pk=submission.pk).update(status=status, **figures)
    submission.refresh_from_db()
    return submission


def add_record(submission, line, text, **fields):
    return Record.objects.create(
        submission=submission,
        line=line,
        language=submission.language,
        kind=submission.kind,
        content={"text": text},
        content_hash=hashlib.md5(f"{submission.pk}:{line}:{text}".encode()).hexdigest(),
        **fields,
    )


@pytest.fixture
def login(client):
    def as_user(user):
        client.force_login(user)
        return client

    return as_user


@pytest.fixture
def submission_a(partner_a, member_a, german):
    return make_submission(
        partner=partner_a,
        uploader=member_a,
        language=german,
        records_read=12,
        records_accepted=9,
        records_rejected=3,
        exact_duplicates=1,
        near_duplicates=2,
        language_mismatches=1,
        pii_redactions=4,
        tokens=345,
        rejection_reasons={"too_short": 2, "unreadable": 1},
        errors=[{"line": 7, "message": "line 7 is not valid JSON: Expecting value"}],
        quality={"mean_word_length": [0, 0, 1, 2, 3, 3, 0, 0, 0, 0], "unknown_signal": [1, 4, 4], "malformed": {"x": 1}},
    )


@pytest.fixture
def submission_b(partner_b, member_b, french):
    return make_submission(partner=partner_b, uploader=member_b, language=french, records_accepted=5, tokens=50)
