"""The withdrawal API: a submission, or records by the lines partners see; idempotent; someone else's is a 404."""

import pytest

from annotation.models import Record
from tests.web.conftest import add_record, make_submission
from training.models import Withdrawal

pytestmark = pytest.mark.django_db


def withdraw(client, submission, **body):
    return client.post(f"/api/submissions/{submission.pk}/withdraw/", body, content_type="application/json")


@pytest.fixture
def archive(partner_a, member_a, german):
    """Records of an archive: each shown as member and line; a plain stream line says nothing about them."""
    submission = make_submission(partner=partner_a, uploader=member_a, language=german, name="docs.zip")
    for line, origin in ((1, "one.jsonl:1"), (2, "one.jsonl:2"), (3, "two.jsonl:1")):
        add_record(submission, line, f"Text {line}.", origin=origin, tokens=5)
    return submission


def test_a_partner_withdraws_records_by_the_lines_its_page_shows(client, member_a, archive):
    client.force_login(member_a)
    response = withdraw(client, archive, lines=["two.jsonl: 1", "one.jsonl:2"], reason="Consent withdrawn.")
    assert response.status_code == 201
    body = response.json()
    assert body["created"] is True
    assert [(w["line"], w["records_withdrawn"], w["reason"]) for w in body["withdrawals"]] == [
        ("two.jsonl:1", 1, "Consent withdrawn."), ("one.jsonl:2", 1, "Consent withdrawn.")]
    assert (body["submission"]["withdrawn_records"], body["submission"]["withdrawn_tokens"]) == (2, 10)
    assert set(Record.objects.filter(status="withdrawn").values_list("line", flat=True)) == {2, 3}

    again = withdraw(client, archive, lines=["one.jsonl:2"])
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["withdrawals"][0]["id"] == body["withdrawals"][1]["id"]
    assert Withdrawal.objects.count() == 2


def test_plain_lines_are_numbers_and_a_csv_row_its_own(client, member_a, partner_a, german):
    submission = make_submission(partner=partner_a, uploader=member_a, language=german)
    add_record(submission, 1, "Erster.")
    add_record(submission, 2, "Zeile fünf einer CSV.", origin="5")
    client.force_login(member_a)
    response = withdraw(client, submission, lines=[1, "5"])
    assert response.status_code == 201
    assert [w["line"] for w in response.json()["withdrawals"]] == ["1", "5"]


def test_a_line_without_a_record_is_named_and_nothing_is_withdrawn(client, member_a, archive):
    client.force_login(member_a)
    response = withdraw(client, archive, lines=["one.jsonl:1", "one.jsonl:9"])
    assert response.status_code == 400
    assert response.json() == {"lines": ["Line one.jsonl:9 holds no record of this submission."]}
    # The stream's line 3 is not what the partner sees for an archive's record.
    assert withdraw(client, archive, lines=[3]).json() == {"lines": ["Line 3 holds no record of this submission."]}
    assert not Withdrawal.objects.exists() and not Record.objects.filter(status="withdrawn").exists()


def test_the_whole_submission_then_asking_again(client, member_a, archive):
    client.force_login(member_a)
    first = withdraw(client, archive, reason="Rights ended.")
    assert first.status_code == 201 and first.json()["withdrawals"][0]["line"] is None
    assert first.json()["submission"]["withdrawn_at"] and first.json()["submission"]["withdrawn_records"] == 3
    second = withdraw(client, archive)
    assert second.status_code == 200 and second.json()["created"] is False
    # A record of a withdrawn submission is withdrawn already.
    assert withdraw(client, archive, lines=["one.jsonl:1"]).json()["withdrawals"][0]["line"] is None
    assert Withdrawal.objects.count() == 1


def test_someone_elses_submission_answers_404(client, member_b, archive):
    client.force_login(member_b)
    assert withdraw(client, archive).status_code == 404
    assert withdraw(client, archive, lines=["one.jsonl:1"]).status_code == 404
    assert not Withdrawal.objects.exists()


def test_anonymous_is_asked_to_authenticate(client, archive):
    assert withdraw(client, archive).status_code == 401


def test_a_submission_still_being_checked_is_refused(client, member_a, partner_a, german):
    pending = make_submission(partner=partner_a, uploader=member_a, language=german, status="processing")
    client.force_login(member_a)
    response = withdraw(client, pending)
    assert response.status_code == 400 and "checks" in response.json()["non_field_errors"][0]


def test_the_schema_documents_the_endpoint(client, member_a):
    client.force_login(member_a)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/api/submissions/{submission_id}/withdraw/"]["post"]
    assert {"200", "201", "400", "404"} <= set(operation["responses"])
