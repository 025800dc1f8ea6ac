"""An invitation's life: sent by mail, accepted once, expiring, revocable, resent."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from annotation.models import Certification
from occiportal.invitations import invitation_create
from occiportal.models import Invitation, LanguageRole, PartnerMembership
from tests.conftest import make_user

from .conftest import mailed_link

NEW_PASSWORD = "a-long-and-unusual-passphrase"
BASE = "http://testserver/"


def invite(inviter, email="neu@example.org", role="member", partner=None, languages=(), mail_language="en"):
    return invitation_create(
        inviter=inviter, email=email, role=role, partner=partner, languages=languages,
        mail_language=mail_language, base_url=BASE,
    )  # fmt: skip


def accept_as_new(client, link, username="nina", password=NEW_PASSWORD):
    return client.post(link, {"username": username, "password1": password, "password2": password})


def test_partner_admin_invites_and_the_invitee_lands_signed_in_as_member(client, admin_a, partner_a):
    client.force_login(admin_a)
    data = {"email": "neu@example.org", "role": "member", "partner": "alpha", "mail_language": "en"}
    response = client.post(reverse("invitation_new"), data)
    assert response.status_code == 302
    assert mail.outbox[0].to == ["neu@example.org"]
    client.logout()

    link = mailed_link()
    assert client.get(link).status_code == 200
    response = accept_as_new(client, link)

    assert response.status_code == 302 and response.url == reverse("dashboard")
    user = get_user_model().objects.get(username="nina")
    assert int(client.session["_auth_user_id"]) == user.pk
    assert user.email == "neu@example.org"
    memberships = PartnerMembership.objects.filter(user=user)
    assert list(memberships.values_list("partner__slug", "role")) == [("alpha", "member")]
    assert not Certification.objects.filter(user=user).exists() and not LanguageRole.objects.filter(user=user).exists()
    assert Invitation.objects.get().accepted_by == user


def test_lead_invites_an_annotator_certified_by_the_lead(client, lead_de, german):
    invite(lead_de, role="annotator", languages=[german])
    accept_as_new(client, mailed_link())
    certification = Certification.objects.get(user__username="nina")
    assert (certification.language_code, certification.granted_by) == ("de", lead_de)


def test_staff_invites_a_language_lead(client, staff, german, french):
    invite(staff, role="lead", languages=[german, french])
    accept_as_new(client, mailed_link())
    roles = LanguageRole.objects.filter(user__username="nina", role="lead")
    assert sorted(roles.values_list("language__code", flat=True)) == ["de", "fr"]


def test_partner_admin_invites_another_admin(client, admin_a, partner_a):
    invite(admin_a, role="admin", partner=partner_a)
    accept_as_new(client, mailed_link())
    assert PartnerMembership.objects.get(user__username="nina").role == "admin"


def test_the_token_is_stored_only_as_a_hash(admin_a, partner_a):
    invitation = invite(admin_a, partner=partner_a)
    token = mailed_link().rstrip("/").rsplit("/", 1)[1]
    assert token not in invitation.token_hash and len(invitation.token_hash) == 64


def test_a_link_works_once(client, admin_a, partner_a):
    invite(admin_a, partner=partner_a)
    link = mailed_link()
    accept_as_new(client, link)
    client.logout()
    assert client.get(link).status_code == 404
    assert accept_as_new(client, link, username="nina2").status_code == 404
    assert not get_user_model().objects.filter(username="nina2").exists()


def test_an_expired_link_is_refused(client, admin_a, partner_a):
    invitation = invite(admin_a, partner=partner_a)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert accept_as_new(client, mailed_link()).status_code == 404
    assert not get_user_model().objects.filter(username="nina").exists()


def test_invitations_expire_after_seven_days(admin_a, partner_a):
    invitation = invite(admin_a, partner=partner_a)
    assert timedelta(days=7) - timedelta(minutes=1) < invitation.expires_at - timezone.now() <= timedelta(days=7)


def test_a_revoked_link_is_refused(client, admin_a, partner_a):
    invitation = invite(admin_a, partner=partner_a)
    client.force_login(admin_a)
    assert client.post(reverse("invitation_revoke", args=[invitation.pk])).status_code == 302
    client.logout()
    assert client.get(mailed_link()).status_code == 404


def test_resending_mails_a_new_link_and_ends_the_old_one(client, admin_a, partner_a):
    invitation = invite(admin_a, partner=partner_a)
    client.force_login(admin_a)
    client.post(reverse("invitation_resend", args=[invitation.pk]))
    client.logout()
    old, new = mailed_link(0), mailed_link(1)
    assert old != new
    assert client.get(old).status_code == 404
    assert client.get(new).status_code == 200


def test_an_existing_account_gets_the_roles_after_signing_in(client, admin_a, partner_a, partner_b):
    invited = make_user("bob", partner=partner_b)
    invite(admin_a, email="BOB@example.org", partner=partner_a)
    link = mailed_link()
    assert b"Sign in to accept" in client.get(link).content
    client.force_login(invited)
    assert client.post(link).status_code == 302
    assert set(invited.partners.values_list("slug", flat=True)) == {"alpha", "beta"}


def test_someone_signed_in_with_another_address_cannot_accept(client, admin_a, partner_a, member_b):
    invite(admin_a, partner=partner_a)
    client.force_login(member_b)
    client.post(mailed_link())
    assert not member_b.partners.filter(slug="alpha").exists()
    assert Invitation.objects.get().accepted_at is None


def test_a_weak_password_is_refused(client, admin_a, partner_a):
    invite(admin_a, partner=partner_a)
    response = accept_as_new(client, mailed_link(), password="12345678")
    assert response.status_code == 400
    assert not get_user_model().objects.filter(username="nina").exists()


def test_a_taken_username_is_refused(client, admin_a, partner_a):
    invite(admin_a, partner=partner_a)
    assert accept_as_new(client, mailed_link(), username="ada").status_code == 400


@pytest.mark.parametrize(
    "mail_language, subject", [("de", "Ihre Einladung zu Occiportal"), ("en", "Your invitation to Occiportal")]
)
def test_the_mail_is_in_the_chosen_language(admin_a, partner_a, mail_language, subject):
    invite(admin_a, partner=partner_a, mail_language=mail_language)
    assert mail.outbox[0].subject == subject


def test_the_mail_language_defaults_to_the_inviters(client, admin_a):
    client.force_login(admin_a)
    client.cookies["django_language"] = "fr"
    page = client.get(reverse("people"))
    assert page.context["invite_form"]["mail_language"].value() == "fr"



def test_the_invitation_is_stored_before_its_mail_leaves(admin_a, partner_a, monkeypatch):
    """A mail server that fails leaves a stored invitation to resend, not a mailed link to a rolled-back one."""

    def send_mail(*args, **kwargs):
        raise ConnectionRefusedError("SMTP is away")

    monkeypatch.setattr("occiportal.invitations.send_mail", send_mail)
    with pytest.raises(ConnectionRefusedError):
        invitation_create(
            inviter=admin_a, email="neu@example.org", role="member", partner=partner_a, mail_language="de",
            base_url="http://testserver/",
        )  # fmt: skip
    assert Invitation.objects.get(email="neu@example.org").is_pending
