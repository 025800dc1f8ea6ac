"""Who may invite whom and make language leads, checked on the object: negatives beside positives."""

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from annotation.services.review import certification_grant
from occiportal.models import Invitation, LanguageRole
from tests.conftest import make_user

from .test_invitations import invite


def test_a_partner_admin_cannot_invite_into_another_partner(admin_a, partner_b):
    with pytest.raises(PermissionDenied):
        invite(admin_a, partner=partner_b)
    assert not Invitation.objects.exists() and not mail.outbox


def test_the_invite_form_refuses_another_partner(client, admin_a, partner_b):
    client.force_login(admin_a)
    data = {"email": "x@example.org", "role": "member", "partner": "beta", "mail_language": "en"}
    assert client.post(reverse("invitation_new"), data).status_code == 400
    assert not Invitation.objects.exists() and not mail.outbox


def test_a_partner_admin_cannot_give_language_roles(admin_a, german):
    with pytest.raises(PermissionDenied):
        invite(admin_a, role="annotator", languages=[german])


def test_a_lead_cannot_grant_a_language_they_do_not_lead(lead_de, german, french):
    with pytest.raises(PermissionDenied):
        invite(lead_de, role="annotator", languages=[german, french])
    assert not Invitation.objects.exists()


def test_a_lead_cannot_invite_into_a_partner(lead_de, partner_a):
    with pytest.raises(PermissionDenied):
        invite(lead_de, partner=partner_a)


def test_the_invite_form_refuses_a_language_not_led(client, lead_de, french):
    client.force_login(lead_de)
    data = {"email": "x@example.org", "role": "lead", "languages": ["fr"], "mail_language": "en"}
    assert client.post(reverse("invitation_new"), data).status_code == 400
    assert not Invitation.objects.exists()


@pytest.fixture
def annotator(staff, german):
    user = make_user("ann")
    certification_grant(granter=staff, user=user, language_code="de")
    return user


@pytest.mark.parametrize("who", ["annotator", "member_a"])
def test_annotators_and_plain_members_have_no_people_page(client, request, who):
    client.force_login(request.getfixturevalue(who))
    assert client.get(reverse("people")).status_code == 404
    data = {"email": "x@example.org", "role": "member", "partner": "alpha", "mail_language": "en"}
    assert client.post(reverse("invitation_new"), data).status_code == 404
    assert not Invitation.objects.exists()


def test_the_people_link_shows_only_for_those_who_may_invite(client, admin_a, member_a):
    client.force_login(admin_a)
    assert reverse("people").encode() in client.get(reverse("home")).content
    client.force_login(member_a)
    assert reverse("people").encode() not in client.get(reverse("home")).content


def test_someone_elses_invitation_answers_404(client, admin_a, partner_a, partner_b, lead_de, german):
    theirs = make_user("beatrix", partner=partner_b)
    theirs.partner_memberships.update(role="admin")
    invitation = invite(theirs, partner=partner_b)
    for who in (admin_a, lead_de):
        client.force_login(who)
        assert client.post(reverse("invitation_resend", args=[invitation.pk])).status_code == 404
        assert client.post(reverse("invitation_revoke", args=[invitation.pk])).status_code == 404
    invitation.refresh_from_db()
    assert invitation.revoked_at is None and len(mail.outbox) == 1


def test_a_lead_manages_invitations_only_within_their_languages(client, staff, lead_de, german, french):
    mixed = invite(staff, role="annotator", languages=[german, french])
    own = invite(staff, email="other@example.org", role="annotator", languages=[german])
    client.force_login(lead_de)
    assert client.post(reverse("invitation_revoke", args=[mixed.pk])).status_code == 404
    assert client.post(reverse("invitation_revoke", args=[own.pk])).status_code == 302


def test_the_people_page_lists_members_invitations_and_leads(client, admin_a, member_a, partner_a, staff, lead_de):
    invite(admin_a, partner=partner_a)
    client.force_login(admin_a)
    page = client.get(reverse("people"))
    assert {m.user.username for m in page.context["members"]} == {"ada", "anna"}
    assert [i.email for i in page.context["invitations"]] == ["neu@example.org"]
    assert page.context["lead_form"] is None
    client.force_login(staff)
    page = client.get(reverse("people"))
    assert [r.user.username for r in page.context["leads"]] == ["lena"]


def test_staff_make_and_unmake_a_language_lead_from_the_page(client, staff, member_a, german):
    client.force_login(staff)
    response = client.post(reverse("lead_new"), {"username": "anna", "language": "de"})
    assert response.status_code == 302
    role = LanguageRole.objects.get(user=member_a, role="lead", language=german)
    assert client.post(reverse("lead_remove", args=[role.pk])).status_code == 302
    assert not LanguageRole.objects.filter(pk=role.pk).exists()


def test_a_lead_makes_leads_only_for_their_languages(client, lead_de, lead_fr, member_a):
    client.force_login(lead_de)
    assert client.post(reverse("lead_new"), {"username": "anna", "language": "de"}).status_code == 302
    assert client.post(reverse("lead_new"), {"username": "anna", "language": "fr"}).status_code == 400
    french_role = LanguageRole.objects.get(user=lead_fr)
    assert client.post(reverse("lead_remove", args=[french_role.pk])).status_code == 404
    assert set(LanguageRole.objects.filter(user=member_a).values_list("language__code", flat=True)) == {"de"}


def test_plain_members_cannot_make_leads(client, member_a, german):
    client.force_login(member_a)
    assert client.post(reverse("lead_new"), {"username": "anna", "language": "de"}).status_code == 404
    assert not LanguageRole.objects.exists()


def test_the_invite_form_offers_only_what_the_inviter_can_give(client, admin_a, lead_de):
    client.force_login(admin_a)
    form = client.get(reverse("people")).context["invite_form"]
    assert "languages" not in form.fields and [c for c, _ in form.fields["role"].choices] == ["member", "admin"]
    client.force_login(lead_de)
    form = client.get(reverse("people")).context["invite_form"]
    assert "partner" not in form.fields and [c for c, _ in form.fields["role"].choices] == ["annotator", "lead"]


def test_the_people_page_query_count_does_not_grow(client, staff, partner_a, german, django_assert_max_num_queries):
    for i in range(15):
        make_user(f"m{i}", partner=partner_a)
        invite(staff, email=f"i{i}@example.org", role="annotator", languages=[german])
        certification_grant(granter=staff, user=make_user(f"c{i}"), language_code="de")
    client.force_login(staff)
    with django_assert_max_num_queries(14):
        response = client.get(reverse("people"))
    assert len(response.context["invitations"]) == 15
