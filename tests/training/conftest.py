"""Snapshot fixtures: real ingested records, accepted by a queryset update until review decides."""

import pytest

from annotation.models import Record
from tests.annotation.ingest_helpers import ingest_now, jsonl, submit
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
