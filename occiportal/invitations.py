"""Invitations: a single-use, expiring e-mail link that gives one role.

The link carries a random token; only its SHA-256 is stored, so a leaked
database gives no working link. Resending makes a new token, which ends
the old link.
"""

import secrets
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from .models import Invitation
from .selectors import account_exists, token_hash
from .services import person_create, person_roles_check, person_roles_grant

INVITATION_LIFETIME = timedelta(days=7)


def invitation_create(
    *, inviter, email: str, role: str, partner=None, languages=(), mail_language: str, base_url: str
) -> Invitation:
    """Invite ``email`` into one role and mail the link; ``PermissionDenied`` if ``inviter`` may not give it.

    ``base_url`` is the portal's address as the inviter reached it ("https://portal.example/").
    The mail leaves after the invitation is committed (call it outside a transaction): a
    rolled-back invitation mails no dead link, and no row stays locked while SMTP answers.
    """
    person_roles_check(granter=inviter, role=role, partner=partner, languages=languages)
    with transaction.atomic():
        invitation = Invitation(
            email=email, role=role, partner=partner if role in Invitation.PARTNER_ROLES else None,
            mail_language=mail_language, invited_by=inviter, token_hash="", expires_at=timezone.now(),
        )  # fmt: skip
        token = _renew(invitation)
        if role not in Invitation.PARTNER_ROLES:
            invitation.languages.set(languages)
    _send(invitation, token, base_url)
    return invitation


def invitation_resend(*, invitation: Invitation, base_url: str) -> Invitation:
    """Mail a fresh link, good for another ``INVITATION_LIFETIME``; the old link stops working."""
    token = _renew(invitation)
    _send(invitation, token, base_url)
    return invitation


def invitation_revoke(*, invitation: Invitation) -> Invitation:
    """End a pending invitation; its link stops working. Revoking twice changes nothing."""
    if invitation.is_pending:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
    return invitation


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user) -> Invitation:
    """Give ``user`` the invitation's role, once. The account must carry the invited address."""
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not invitation.is_pending or invitation.expires_at <= timezone.now():
        raise ValidationError(_("This invitation is no longer valid."))
    if user.email.casefold() != invitation.email.casefold():
        raise PermissionDenied(_("This invitation is for another e-mail address."))
    person_roles_grant(
        user=user, role=invitation.role, partner=invitation.partner, languages=list(invitation.languages.all()),
        granted_by=invitation.invited_by,
    )  # fmt: skip
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    return invitation


@transaction.atomic
def invitation_accept_new(*, invitation: Invitation, username: str, password: str):
    """Make the invited person's account, with the invited address, and accept for it."""
    if account_exists(invitation.email):
        raise ValidationError(_("An account with this e-mail address exists: sign in to accept."))
    user = person_create(username=username, email=invitation.email, password=password)
    invitation_accept(invitation=invitation, user=user)
    return user


def _renew(invitation: Invitation) -> str:
    token = secrets.token_urlsafe(32)
    invitation.token_hash = token_hash(token)
    invitation.expires_at = timezone.now() + INVITATION_LIFETIME
    invitation.save()
    return token


def _send(invitation: Invitation, token: str, base_url: str) -> None:
    context = {
        "invitation": invitation,
        "languages": list(invitation.languages.all()),
        "link": base_url.rstrip("/") + reverse("invitation_accept", args=[token]),
    }
    with translation.override(invitation.mail_language):
        subject = render_to_string("people/invitation_subject.txt", context).strip()
        body = render_to_string("people/invitation_email.txt", context)
    send_mail(subject, body, None, [invitation.email])
