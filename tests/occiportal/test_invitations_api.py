"""Invitations through the API, with token auth: the page's rules, as 201, 403 and 404."""

from django.core import mail
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from occiportal.models import Invitation

from .test_invitations import invite


def api(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def test_a_lead_invites_an_annotator_and_lists_it(lead_de, german):
    client = api(lead_de)
    data = {"email": "neu@example.org", "role": "annotator", "languages": ["de"], "mail_language": "de"}
    response = client.post("/api/invitations/", data, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["languages"] == ["de"] and mail.outbox[0].subject == "Ihre Einladung zu Occiportal"
    assert [row["email"] for row in client.get("/api/invitations/").json()["results"]] == ["neu@example.org"]


def test_a_partner_admin_cannot_invite_into_another_partner(admin_a, partner_b):
    data = {"email": "neu@example.org", "role": "admin", "partner": "beta"}
    assert api(admin_a).post("/api/invitations/", data, format="json").status_code == 403
    assert not Invitation.objects.exists()


def test_a_lead_cannot_grant_another_language(lead_de, french):
    data = {"email": "neu@example.org", "role": "lead", "languages": ["fr"]}
    assert api(lead_de).post("/api/invitations/", data, format="json").status_code == 403


def test_someone_elses_invitation_answers_404_and_ones_own_is_revoked(admin_a, partner_a, lead_de):
    invitation = invite(admin_a, partner=partner_a)
    assert api(lead_de).post(f"/api/invitations/{invitation.pk}/revoke/").status_code == 404
    assert api(lead_de).post(f"/api/invitations/{invitation.pk}/resend/").status_code == 404
    assert api(admin_a).post(f"/api/invitations/{invitation.pk}/resend/").status_code == 200
    assert api(admin_a).post(f"/api/invitations/{invitation.pk}/revoke/").status_code == 200
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None and len(mail.outbox) == 2
