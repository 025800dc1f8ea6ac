"""NUL (U+0000), which PostgreSQL cannot store, answers 400 with a message wherever the audit sent it."""

import base64

import pytest
from django.urls import reverse

from annotation.models import Annotation, Record, Upload
from annotation.services.review import review_item_claim

from .conftest import make_records

pytestmark = pytest.mark.django_db

TUS = {"HTTP_TUS_RESUMABLE": "1.0.0"}


@pytest.mark.parametrize("url", [
    "/runs/leaderboard/?language=%00", "/review/leaderboard/a%00b/", "/review/certifications/d%00e/",
    "/api/submissions/?limit=%01",
])  # fmt: skip
def test_a_nul_in_the_address_is_a_400_that_says_why(client, member_a, url):
    client.force_login(member_a)

    response = client.get(url)

    assert response.status_code == 400
    assert "control character" in response.text


def test_a_tus_file_name_holding_nul_is_refused(client, member_a):
    client.force_login(member_a)
    metadata = "filename " + base64.b64encode("zeitung\x00.jsonl".encode()).decode()

    response = client.post("/api/uploads/", HTTP_UPLOAD_LENGTH="10", HTTP_UPLOAD_METADATA=metadata, **TUS)

    assert response.status_code == 400
    assert "control character" in response.json()["detail"]
    assert not Upload.objects.exists()


def test_an_api_edit_holding_nul_is_refused(client, queue_de, submission_de, annotator_for):
    make_records(submission_de, 1)
    ulla = annotator_for("ulla")
    assignment = review_item_claim(queue=queue_de, annotator=ulla)
    client.force_login(ulla)

    response = client.post(
        reverse("api:review-submit", args=[assignment.pk]),
        '{"action": "edit", "edited_content": {"prompt": "Frage?", "response": "a\\u0000b"}}',
        content_type="application/json",
    )

    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]
    assert not Annotation.objects.exists()


def test_a_json_edit_on_the_work_page_holding_nul_is_refused(client, queue_de, submission_de, annotator_for):
    record = make_records(submission_de, 1)[0]
    Record.objects.filter(pk=record.pk).update(content={"messages": [{"role": "user", "content": "Hallo"}]})
    client.force_login(annotator_for("ulla"))
    url = client.post(reverse("review_next", args=[queue_de.pk])).url

    response = client.post(url, {"action": "edit", "edit_json": '{"messages": [{"role": "user", "content": "a\\u0000"}]}'})

    assert response.status_code == 400
    assert "NUL" in response.text
    assert not Annotation.objects.exists()


@pytest.mark.parametrize("url", ["/api/submissions/", reverse("submission_new")])
def test_a_multipart_file_name_holding_nul_is_no_500(client, member_a, german, upload, url):
    client.force_login(member_a)
    fields = {"partner": "alpha", "language": "de", "kind": "pretraining", "license": "CC-BY-4.0",
              "source": "Zeitungen", "consent": "true", "file": upload('{"text": "Hallo"}\n', name="a\x00b.jsonl")}  # fmt: skip

    response = client.post(url, fields)

    assert response.status_code < 500
