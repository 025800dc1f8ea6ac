"""The admin for languages, partners and roles."""

import pytest
from django.urls import reverse

from occiportal.models import LanguageRole


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


@pytest.mark.parametrize("model", ["language", "partner", "partnermembership", "languagerole"])
def test_changelists_load(admin_client, member_a, german, model, django_assert_max_num_queries):
    LanguageRole.objects.create(user=member_a, language=german, role=LanguageRole.Role.LEAD)

    with django_assert_max_num_queries(12):
        response = admin_client.get(reverse(f"admin:occiportal_{model}_changelist"), {"q": "a"})

    assert response.status_code == 200


def test_partner_page_lists_its_members(admin_client, partner_a, member_a):
    response = admin_client.get(reverse("admin:occiportal_partner_change", args=[partner_a.pk]))

    assert response.status_code == 200
    assert "memberships-0-user" in response.content.decode()
