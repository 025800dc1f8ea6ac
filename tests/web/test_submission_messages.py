"""The submission page shows ingest's problem lines and failure in the reader's language."""

import pytest
from django.urls import reverse

from annotation.models import Submission
from annotation.web import presenters

from .conftest import make_submission

MISSING = "missing field %(field)s (%(what)s)"
DOCUMENT = 'pretraining documents are {"text": …}'
GERMAN = {
    MISSING: "Feld %(field)s fehlt (%(what)s)",
    DOCUMENT: 'Dokumente zum Vortraining sind {"text": …}',
    "The file is empty.": "Die Datei ist leer.",
}
ERROR = {
    "line": 4,
    "message": """missing field 'text' (pretraining documents are {"text": …})""",
    "template": MISSING,
    "params": {"field": "'text'", "what": {"template": DOCUMENT, "params": {}}},
}


@pytest.fixture
def german_catalogue(monkeypatch):
    monkeypatch.setattr(presenters, "gettext", lambda template: GERMAN.get(template, template))


def page(client, submission):
    response = client.get(reverse("submission_detail", args=[submission.pk]), HTTP_ACCEPT_LANGUAGE="de")
    assert response.status_code == 200
    return response.content.decode()


def test_problem_lines_show_in_the_readers_language(login, member_a, partner_a, german, german_catalogue):
    submission = make_submission(partner=partner_a, uploader=member_a, language=german, errors=[ERROR])
    html = page(login(member_a), submission)
    assert "Feld &#x27;text&#x27; fehlt (Dokumente zum Vortraining sind {&quot;text&quot;: …})" in html
    assert "missing field" not in html


def test_the_failure_shows_in_the_readers_language(login, member_a, partner_a, german, german_catalogue):
    submission = make_submission(
        partner=partner_a, uploader=member_a, language=german, status=Submission.Status.FAILED,
        failure="The file is empty.", failure_message={"template": "The file is empty.", "params": {}},
    )
    html = page(login(member_a), submission)
    assert "Die Datei ist leer." in html and "The file is empty." not in html


def test_a_bad_translation_falls_back_to_english(login, member_a, partner_a, german, monkeypatch):
    monkeypatch.setattr(presenters, "gettext", lambda template: "Feld %(feld)s fehlt %d")
    submission = make_submission(
        partner=partner_a, uploader=member_a, language=german, status=Submission.Status.FAILED, errors=[ERROR],
        failure="No record could be accepted.", failure_message={"template": "No record %(x)s", "params": {}},
    )
    html = page(login(member_a), submission)
    assert "missing field &#x27;text&#x27;" in html and "No record could be accepted." in html


def test_rows_kept_before_templates_show_their_english_text(login, member_a, partner_a, german, german_catalogue):
    submission = make_submission(
        partner=partner_a, uploader=member_a, language=german, status=Submission.Status.FAILED,
        errors=[{"line": 2, "message": "invalid JSON: Expecting value (column 1)"}], failure="The file is empty.",
    )
    html = page(login(member_a), submission)
    assert "invalid JSON: Expecting value (column 1)" in html and "The file is empty." in html


def test_the_api_keeps_the_english_text(login, member_a, partner_a, german, german_catalogue):
    submission = make_submission(partner=partner_a, uploader=member_a, language=german, errors=[ERROR])
    assert submission.figures()["errors"][0]["message"] == ERROR["message"]


def test_the_shipped_german_catalogue_translates_a_real_ingest_problem(login, member_a, partner_a, german):
    from tests.annotation.ingest_helpers import ingest_now, submit

    bad = submit(user=member_a, partner=partner_a, language=german, content='{"text": "Ein Text."}\n{"txt": "x"}\n')
    ingest_now(bad)

    html = page(login(member_a), bad)  # the catalogue the set-up compiled, no stand-in

    assert "Feld &#x27;text&#x27; fehlt" in html and "missing field" not in html
