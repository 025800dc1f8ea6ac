"""People who invite: a partner admin, a language lead, and a way to read the mailed link."""

import re

import pytest
from django.core import mail

from occiportal.models import PartnerMembership
from tests.annotation.conftest import make_lead
from tests.conftest import make_user


@pytest.fixture
def admin_a(partner_a):
    user = make_user("ada", partner=partner_a)
    PartnerMembership.objects.filter(user=user).update(role=PartnerMembership.Role.ADMIN)
    return user


@pytest.fixture
def lead_de(german):
    return make_lead("lena", german)


@pytest.fixture
def lead_fr(french):
    return make_lead("felix", french)


def mailed_link(index=-1) -> str:
    """The invitation link in a sent mail, as a path."""
    return re.search(r"https?://[^/\s]+(/invitations/\S+/)", mail.outbox[index].body).group(1)
