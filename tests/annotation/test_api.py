"""The REST API: languages, partners, submitting a file and reading its figures."""

from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from annotation.models import Submission
from annotation.services.submissions import submission_create
from tests.annotation.ingest_helpers import ingest_now, jsonl, submit
from tests.annotation.texts import documents
from tests.web.conftest import add_record, make_submission


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


def test_lines_behind_a_figure_page_by_cursor(api, member_a, partner_a, german, django_assert_max_num_queries):
    submission = make_submission(partner=partner_a, uploader=member_a, language=german)
    for line in range(1, 56):
        add_record(submission, line, f"Text {line}", near_duplicate_of=None, pii_redactions=line % 2)
    with django_assert_max_num_queries(4):
        first = api.get(f"/api/submissions/{submission.pk}/lines/", {"figure": "pii_redactions"})
    assert first.status_code == 200
    body = first.json()
    assert [row["line"] for row in body["results"]][:3] == ["1", "3", "5"] and len(body["results"]) == 28
    assert body["next"] is None and body["results"][0]["redactions"] == 1
    page = api.get(f"/api/submissions/{submission.pk}/lines/", {"figure": "near_duplicates"}).json()
    assert page == {"figure": "near_duplicates", "redaction": "", "results": [], "next": None}


def test_lines_name_the_line_a_duplicate_repeats(api, member_a, partner_a, partner_b, member_b, german):
    other = make_submission(partner=partner_b, uploader=member_b, language=german)
    original = add_record(other, 2, "Urtext", origin="b.jsonl:2")
    submission = make_submission(partner=partner_a, uploader=member_a, language=german)
    for line in range(1, 53):
        add_record(submission, line, f"Fast Urtext {line}", near_duplicate_of=original)
    first = api.get(f"/api/submissions/{submission.pk}/lines/?figure=near_duplicates").json()
    assert first["results"][0]["duplicate_of"] == {"line": "b.jsonl:2", "submission": other.pk}
    assert len(first["results"]) == 50 and first["next"].endswith("?figure=near_duplicates&after=50")
    second = api.get(first["next"]).json()
    assert [row["line"] for row in second["results"]] == ["51", "52"] and second["next"] is None


def test_lines_of_someone_elses_submission_answer_404(client, member_b, partner_a, member_a, german):
    submission = make_submission(partner=partner_a, uploader=member_a, language=german)
    client.force_login(member_b)
    assert client.get(f"/api/submissions/{submission.pk}/lines/?figure=near_duplicates").status_code == 404


@pytest.mark.parametrize("query", ["figure=everything", "figure=near_duplicates&after=x", ""])
def test_lines_refuse_an_unknown_figure_or_cursor(api, member_a, partner_a, german, query):
    submission = make_submission(partner=partner_a, uploader=member_a, language=german)
    assert api.get(f"/api/submissions/{submission.pk}/lines/?{query}").status_code == 400


def test_a_repeated_upload_reads_as_failed_with_its_reason(api, member_a, partner_a, german):
    docs = jsonl({"text": t} for t in documents(2))
    first = ingest_now(submit(user=member_a, partner=partner_a, language=german, content=docs))
    again = ingest_now(submit(user=member_a, partner=partner_a, language=german, content=docs))
    body = api.get(f"/api/submissions/{again.pk}/").json()
    assert body["status"] == "failed"
    assert body["failure"] == f"All 2 records were already in the portal (submission #{first.pk})."


def test_lines_of_one_kind_of_personal_data_keep_the_kind_in_next(api, member_a, partner_a, german):
    submission = make_submission(partner=partner_a, uploader=member_a, language=german)
    for line in range(1, 53):
        add_record(submission, line, f"<EMAIL> {line}", pii_redactions=1, redactions={"email": 1})
    add_record(submission, 60, "<PHONE>", pii_redactions=1, redactions={"phone": 1})
    body = api.get(f"/api/submissions/{submission.pk}/lines/?figure=pii_redactions&redaction=email").json()
    assert body["redaction"] == "email" and body["results"][0]["redaction_kinds"] == {"email": 1}
    assert body["next"].endswith("?figure=pii_redactions&redaction=email&after=50")
    assert [row["line"] for row in api.get(body["next"]).json()["results"]] == ["51", "52"]
