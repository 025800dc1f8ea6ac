"""Writes on partners and their members (operators' commands use these)."""

from django.db import transaction

from .models import Partner, PartnerMembership


@transaction.atomic
def partner_create(*, slug: str, name: str, members=()) -> Partner:
    """Create a partner with its first members. ``full_clean`` reports a bad or taken slug."""
    partner = Partner(slug=slug, name=name)
    partner.full_clean()
    partner.save()
    for user in members:
        partner_member_add(partner=partner, user=user)
    return partner


def partner_member_add(*, partner: Partner, user) -> PartnerMembership:
    """Make ``user`` a member of ``partner``; adding a member twice changes nothing."""
    membership, _ = PartnerMembership.objects.get_or_create(partner=partner, user=user)
    return membership
