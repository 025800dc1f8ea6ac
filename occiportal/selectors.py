"""Reads on people: who administers a partner, who may invite, whom a manager sees."""

import hashlib

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from annotation.review_selectors import certifications_led_by, languages_led_by

from .models import Invitation, Language, LanguageRole, Partner, PartnerMembership


def partners_administered_by(user):
    """Partners ``user`` is an admin of; all of them for staff."""
    if not user.is_authenticated:
        return Partner.objects.none()
    if user.is_staff:
        return Partner.objects.all()
    return Partner.objects.filter(memberships__user=user, memberships__role=PartnerMembership.Role.ADMIN)


def may_manage_people(user) -> bool:
    """Staff, partner admins and language leads have a People page.

    At most one query per request: the navigation of every page asks, and the
    People page's access check asks again; the answer is kept on the user object.
    """
    if not user.is_authenticated or user.is_staff:
        return user.is_authenticated
    if not hasattr(user, "_may_manage_people"):
        admin_or_lead = Q(partner_memberships__role=PartnerMembership.Role.ADMIN) | Q(
            language_roles__role=LanguageRole.Role.LEAD
        )
        user._may_manage_people = get_user_model().objects.filter(admin_or_lead, pk=user.pk).exists()
    return user._may_manage_people


def members_of(partners):
    return PartnerMembership.objects.filter(partner__in=partners).select_related("user", "partner").order_by(
        "partner__name", "user__username"
    )


def leads_of(languages):
    roles = LanguageRole.objects.filter(role=LanguageRole.Role.LEAD, language__in=languages)
    return roles.select_related("user", "language").order_by("language__code", "user__username")


def annotators_led_by(user):
    return certifications_led_by(user).order_by("language_code", "user__username")


def invitations_managed_by(user):
    """Pending invitations ``user`` may resend or revoke.

    A lead manages a language invitation only when it names no language
    they do not lead: resending it would hand out a role they cannot grant.
    """
    pending = Invitation.objects.filter(accepted_at__isnull=True, revoked_at__isnull=True)
    pending = pending.select_related("partner", "invited_by").prefetch_related("languages")
    if user.is_staff:
        return pending
    not_led = Language.objects.exclude(pk__in=languages_led_by(user).values("pk"))
    language_roles = Q(role__in=[Invitation.Role.ANNOTATOR, Invitation.Role.LEAD]) & ~Q(languages__in=not_led)
    return pending.filter(Q(partner__in=partners_administered_by(user)) | language_roles).distinct()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_by_token(token: str) -> Invitation | None:
    """The invitation a link opens, or None when it is unknown, used, revoked or expired."""
    invitation = Invitation.objects.filter(token_hash=token_hash(token)).select_related("partner").first()
    if invitation is None or not invitation.is_pending or invitation.expires_at <= timezone.now():
        return None
    return invitation


def account_exists(email: str) -> bool:
    return get_user_model().objects.filter(email__iexact=email).exists()
