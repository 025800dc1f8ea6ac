"""Who may see and submit what through the API: someone else's object is a 404."""

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from annotation.models import Submission
from annotation.services.submissions import submission_create

from ..conftest import PASSWORD

DOC = '{"text": "Un petit texte en français pour les essais."}\n'


@pytest.fixture
def submit(german, upload):
    def build(partner, uploader):
        return submission_create(
            uploader=uploader, partner=partner, language=german, kind="pretraining",
            license="CC-BY-4.0", source="Test texts.", consent=True, file=upload(DOC),
        )

    return build


@pytest.fixture
def as_user(client):
    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture
def theirs(submit, partner_b, member_b):
    return submit(partner_b, member_b)


@pytest.fixture
def ours(submit, partner_a, member_a):
    return submit(partner_a, member_a)


def upload_form(upload, partner):
    return {
        "file": upload(DOC), "partner": partner, "language": "fr", "kind": "pretraining",
        "license": "CC-BY-4.0", "source": "Test texts.", "consent": "true",
    }


@pytest.mark.parametrize("url", ["/api/languages/", "/api/partners/", "/api/submissions/", "/api/submissions/1/"])
def test_anonymous_is_asked_to_authenticate(client, db, url):
    response = client.get(url)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"


def test_anonymous_cannot_submit(client, partner_a, upload):
    response = client.post("/api/submissions/", upload_form(upload, "alpha"))

    assert response.status_code == 401
    assert not Submission.objects.exists()


def test_member_lists_only_their_partners_submissions(as_user, member_a, ours, theirs):
    response = as_user(member_a).get("/api/submissions/")

    assert [row["id"] for row in response.json()["results"]] == [ours.pk]


def test_member_reads_their_own_submission(as_user, member_a, ours):
    response = as_user(member_a).get(f"/api/submissions/{ours.pk}/")

    assert response.status_code == 200


def test_someone_elses_submission_reads_like_a_missing_one(as_user, member_a, theirs):
    client = as_user(member_a)

    other = client.get(f"/api/submissions/{theirs.pk}/")
    missing = client.get(f"/api/submissions/{theirs.pk + 1000}/")

    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()


def test_member_cannot_submit_for_another_partner(as_user, member_a, partner_b, upload):
    response = as_user(member_a).post("/api/submissions/", upload_form(upload, "beta"))

    assert response.status_code == 404
    assert "partner" in response.json()
    assert not Submission.objects.exists()


def test_an_unknown_partner_answers_like_someone_elses(as_user, member_a, partner_b, upload):
    client = as_user(member_a)

    other = client.post("/api/submissions/", upload_form(upload, "beta"))
    missing = client.post("/api/submissions/", upload_form(upload, "gamma"))

    assert (other.status_code, other.json()) == (missing.status_code, missing.json())


def test_member_partners_never_show_another_partner(as_user, member_a, partner_b):
    response = as_user(member_a).get("/api/partners/")

    assert [row["slug"] for row in response.json()] == ["alpha"]


def test_user_without_partner_sees_nothing_and_submits_nowhere(as_user, django_user_model, ours, partner_a, upload):
    loner = django_user_model.objects.create_user("lou", password=PASSWORD)
    client = as_user(loner)

    assert client.get("/api/submissions/").json()["results"] == []
    assert client.get("/api/partners/").json() == []
    assert client.get(f"/api/submissions/{ours.pk}/").status_code == 404
    assert client.post("/api/submissions/", upload_form(upload, "alpha")).status_code == 404


def test_staff_sees_and_reads_everything(as_user, staff, ours, theirs):
    client = as_user(staff)

    listed = {row["id"] for row in client.get("/api/submissions/").json()["results"]}

    assert listed == {ours.pk, theirs.pk}
    assert client.get(f"/api/submissions/{theirs.pk}/").status_code == 200
    assert {row["slug"] for row in client.get("/api/partners/").json()} == {"alpha", "beta"}


def test_staff_may_submit_for_any_partner(as_user, staff, partner_b, upload):
    response = as_user(staff).post("/api/submissions/", upload_form(upload, "beta"))

    assert response.status_code == 201
    assert Submission.objects.get().partner == partner_b


def test_a_token_carries_only_its_users_rights(client, member_a, theirs):
    token = Token.objects.create(user=member_a)

    response = client.get(f"/api/submissions/{theirs.pk}/", HTTP_AUTHORIZATION=f"Token {token.key}")

    assert response.status_code == 404


def test_a_session_post_needs_the_csrf_token(member_a, partner_a, upload):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member_a)

    response = client.post("/api/submissions/", upload_form(upload, "alpha"))

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not Submission.objects.exists()


def test_a_token_post_needs_no_csrf_token(member_a, partner_a, upload):
    client = Client(enforce_csrf_checks=True)
    token = Token.objects.create(user=member_a)

    response = client.post("/api/submissions/", upload_form(upload, "alpha"), HTTP_AUTHORIZATION=f"Token {token.key}")

    assert response.status_code == 201
