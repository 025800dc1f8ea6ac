"""The REST API: languages, partners, submitting a file and reading its figures."""

from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from annotation.models import Submission
from annotation.services.submissions import submission_create


DOC = '{"text": "Ein kurzer Text auf Deutsch, damit es etwas zu lesen gibt."}\n'


@pytest.fixture
def api(client, member_a):
    client.force_login(member_a)
    return client


def form(upload, **overrides):
    data = {
        "file": upload(DOC),
        "partner": "alpha",
        "language": "de",
        "kind": "pretraining",
        "license": "CC-BY-4.0",
        "source": "Newspaper archive, 1990–2000, digitised by us.",
        "consent": "true",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_languages_lists_the_eu_languages(api):
    response = api.get("/api/languages/")

    assert response.status_code == 200
    codes = {row["code"] for row in response.json()}
    assert {"de", "fr", "ga", "mt"} <= codes
    assert set(response.json()[0]) == {"code", "name_en", "name_native", "is_eu_official"}


def test_partners_are_the_users_own(api, partner_b):
    response = api.get("/api/partners/")

    assert response.json() == [{"slug": "alpha", "name": "Alpha Archive"}]


def test_create_stores_the_upload_and_queues_ingest(api, member_a, upload, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post("/api/submissions/", form(upload))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "received"
    assert (body["partner"], body["language"], body["kind"], body["license"]) == ("alpha", "de", "pretraining", "CC-BY-4.0")
    submission = Submission.objects.get(pk=body["id"])
    assert submission.uploader == member_a
    assert submission.consent is True
    assert submission.original_name == "data.jsonl"
    assert len(callbacks) == 1  # the ingest task, sent once committed


def test_create_answers_the_accepted_state_when_the_broker_is_away(
    api, upload, broker_away, caplog, django_capture_on_commit_callbacks
):  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/submissions/", form(upload))

    assert response.status_code == 201, response.content
    assert response.json()["status"] == "received"
    assert Submission.objects.get(pk=response.json()["id"]).status == Submission.Status.RECEIVED
    assert "the sweeper will send it" in caplog.text


def test_detail_has_every_figure_and_progress(api, member_a, partner_a, german, upload):
    submission = submission_create(
        uploader=member_a, partner=partner_a, language=german, kind="pretraining",
        license="CC0-1.0", source="Our own texts.", consent=True, file=upload(DOC),
    )

    response = api.get(f"/api/submissions/{submission.pk}/")

    assert response.status_code == 200
    body = response.json()
    figures = submission.figures()
    assert body["id"] == figures.pop("submission")
    for key, value in figures.items():
        assert body[key] == value, key
    assert {"uuid", "partner", "language", "kind", "license", "source", "original_name", "size_bytes", "created_at"} <= set(body)


def test_list_is_paginated_newest_first(api, member_a, partner_a, german, upload, django_assert_max_num_queries):
    ids = [
        submission_create(
            uploader=member_a, partner=partner_a, language=german, kind="pretraining",
            license="CC0-1.0", source="Our own texts.", consent=True, file=upload(DOC),
        ).pk
        for _ in range(3)
    ]

    with django_assert_max_num_queries(6):
        response = api.get("/api/submissions/")

    body = response.json()
    assert body["count"] == 3
    assert [row["id"] for row in body["results"]] == ids[::-1]


def test_token_authentication(client, member_a):
    out = call_command_output("create_api_token", member_a.username)
    assert out == Token.objects.get(user=member_a).key

    response = client.get("/api/partners/", HTTP_AUTHORIZATION=f"Token {out}")

    assert response.status_code == 200
    assert response.json()[0]["slug"] == "alpha"


def test_a_wrong_token_is_refused(client, member_a):
    response = client.get("/api/partners/", HTTP_AUTHORIZATION="Token not-a-token")

    assert response.status_code == 401


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"kind": "poetry"}, "kind"),
        ({"license": "WTFPL"}, "license"),
        ({"consent": None}, "consent"),
        ({"consent": "false"}, "consent"),
        ({"source": "   "}, "source"),
        ({"language": "xx"}, "language"),
        ({"file": None}, "file"),
    ],
)
def test_invalid_fields_answer_400_naming_the_field(api, upload, overrides, field):
    response = api.post("/api/submissions/", form(upload, **overrides))

    assert response.status_code == 400
    assert field in response.json()
    assert not Submission.objects.exists()


def test_an_empty_file_is_refused(api, upload):
    response = api.post("/api/submissions/", form(upload, file=upload(b"")))

    assert response.status_code == 400
    assert "file" in response.json()


def test_an_oversized_file_is_refused_naming_the_limit(api, upload, settings):
    settings.INGEST = {**settings.INGEST, "MAX_UPLOAD_BYTES": 20}

    response = api.post("/api/submissions/", form(upload))

    assert response.status_code == 400
    message = " ".join(response.json()["file"])
    assert "the limit is 20 bytes" in message
    assert not Submission.objects.exists()


def test_schema_generates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))

    schema = (tmp_path / "schema.yaml").read_text()
    assert "/api/submissions/{id}/" in schema
    assert "multipart/form-data" in schema


def test_schema_is_served(api):
    response = api.get("/api/schema/")

    assert response.status_code == 200


def call_command_output(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()
