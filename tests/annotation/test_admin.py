"""The admin for submissions and records: every page loads, lists stay cheap."""

import uuid

import pytest
from django.urls import reverse

from annotation.models import IngestChunk, Record, Submission


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def submission(partner_a, german):
    return Submission.objects.create(
        uuid=uuid.uuid4(), partner=partner_a, language=german, kind="pretraining", license="CC0-1.0",
        source="test", consent=True, file="uploads/alpha/x.jsonl", original_name="x.jsonl",
    )


@pytest.fixture
def records(submission, german):
    made = [
        Record.objects.create(
            submission=submission, line=line, language=german, kind="pretraining",
            content={"text": f"Dokument {line}: " + "Wort " * 2000}, content_hash=f"{line:032x}",
        )
        for line in range(1, 21)
    ]
    IngestChunk.objects.create(submission=submission, index=0, path="x", start=0, end=10, first_line=1)
    return made


MODELS = ["submission", "ingestchunk", "record"]


@pytest.mark.parametrize("model", MODELS)
def test_changelists_load_with_few_queries(admin_client, records, model, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):
        response = admin_client.get(reverse(f"admin:annotation_{model}_changelist"))

    assert response.status_code == 200


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("query", ["1", "x.jsonl", "not-a-number", "0" * 32])
def test_search_takes_any_text(admin_client, records, model, query):
    response = admin_client.get(reverse(f"admin:annotation_{model}_changelist"), {"q": query})

    assert response.status_code == 200


def test_record_list_shows_an_excerpt_not_the_document(admin_client, records):
    html = admin_client.get(reverse("admin:annotation_record_changelist")).content.decode()

    assert "Dokument 1: Wort" in html
    assert "Wort " * 100 not in html


def test_record_page_shows_the_content_read_only(admin_client, records):
    record = records[0]

    response = admin_client.get(reverse("admin:annotation_record_change", args=[record.pk]))

    html = response.content.decode()
    assert "Dokument 1: Wort" in html
    assert 'name="content"' not in html
    assert 'name="status"' in html


def test_submission_page_shows_figures_read_only(admin_client, submission):
    response = admin_client.get(reverse("admin:annotation_submission_change", args=[submission.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="records_accepted"' not in html
    assert 'name="status"' not in html


def test_submissions_are_not_added_in_the_admin(admin_client):
    assert admin_client.get(reverse("admin:annotation_submission_add")).status_code == 403


def test_non_staff_cannot_open_the_admin(client, member_a):
    client.force_login(member_a)

    response = client.get(reverse("admin:annotation_record_changelist"))

    assert response.status_code == 302


def test_ingest_bookkeeping_is_view_only(admin_client, records):
    chunk = IngestChunk.objects.get()

    response = admin_client.get(reverse("admin:annotation_ingestchunk_change", args=[chunk.pk]))

    assert response.status_code == 200
    assert admin_client.post(reverse("admin:annotation_ingestchunk_change", args=[chunk.pk]), {}).status_code == 403
