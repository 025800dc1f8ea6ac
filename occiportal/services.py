"""Writes on partners, their members and people's roles (pages and operators' commands use these)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext as _

from annotation.review_selectors import languages_led_by
from annotation.services.review import certification_ensure

from .models import Invitation, Language, LanguageRole, Partner, PartnerMembership
from .selectors import partners_administered_by


@transaction.atomic
def partner_create(*, slug: str, name: str, members=()) -> Partner:
    """Create a partner with its first members. ``full_clean`` reports a bad or taken slug."""
    partner = Partner(slug=slug, name=name)
    partner.full_clean()
    partner.save()
    for user in members:
        partner_member_add(partner=partner, user=user)
    return partner


def partner_member_add(*, partner: Partner, user, role=PartnerMembership.Role.MEMBER) -> PartnerMembership:
    """Make ``user`` a member (or admin) of ``partner``; adding twice changes nothing, and never demotes an admin."""
    membership, _created = PartnerMembership.objects.get_or_create(partner=partner, user=user, defaults={"role": role})
    if role == PartnerMembership.Role.ADMIN and membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def person_create(*, username: str, email: str, password: str | None = None, is_staff: bool = False):
    """A new account; without a password it cannot sign in until one is set. The validators judge the password."""
    user = get_user_model()(username=username, email=email, is_staff=is_staff, is_superuser=is_staff)
    if password:
        validate_password(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean()
    user.save()
    return user


def person_roles_check(*, granter, role: str, partner=None, languages=()) -> None:
    """Raise ``PermissionDenied`` unless ``granter`` may give ``role``: partner roles in
    partners they administer, language roles in languages they lead; staff anything."""
    if role in Invitation.PARTNER_ROLES:
        if partner is None or not partners_administered_by(granter).filter(pk=partner.pk).exists():
            raise PermissionDenied(_("Only the partner's admins or staff may give this role."))
        return
    wanted = {language.pk for language in languages}
    if not wanted or languages_led_by(granter).filter(pk__in=wanted).count() != len(wanted):
        raise PermissionDenied(_("Only the language's lead or staff may give this role."))


@transaction.atomic
def person_roles_grant(*, user, role: str, partner=None, languages=(), granted_by=None) -> None:
    """Give ``user`` one role (an ``Invitation.Role``); callers check who may. Granting twice changes nothing."""
    if role in Invitation.PARTNER_ROLES:
        partner_member_add(partner=partner, user=user, role=role)
    for language in languages:
        if role == Invitation.Role.ANNOTATOR:
            certification_ensure(user=user, language_code=language.code, granted_by=granted_by)
        elif role == Invitation.Role.LEAD:
            LanguageRole.objects.get_or_create(user=user, language=language, role=LanguageRole.Role.LEAD)


def language_lead_grant(*, granter, user, language: Language) -> LanguageRole:
    """Make ``user`` a lead of ``language``; staff, or a lead of that language, may."""
    person_roles_check(granter=granter, role=Invitation.Role.LEAD, languages=[language])
    role, _created = LanguageRole.objects.get_or_create(user=user, language=language, role=LanguageRole.Role.LEAD)
    return role


def language_lead_revoke(*, revoker, role: LanguageRole) -> None:
    """Take a language-lead role away; staff, or a lead of that language, may."""
    person_roles_check(granter=revoker, role=Invitation.Role.LEAD, languages=[role.language])
    role.delete()
