"""Fetch people's objects for a manager, with the permission check.

Someone else's object answers exactly like a missing one: ``Http404``.
"""

from django.http import Http404

from annotation.review_selectors import languages_led_by

from .models import Invitation, LanguageRole
from .selectors import invitations_managed_by, leads_of, may_manage_people


def access_people(user) -> None:
    """Only staff, partner admins and language leads have a People page."""
    if not may_manage_people(user):
        raise Http404("Nobody to manage.")


def access_invitation(user, invitation_id) -> Invitation:
    """A pending invitation ``user`` may resend or revoke."""
    try:
        return invitations_managed_by(user).get(pk=invitation_id)
    except (Invitation.DoesNotExist, ValueError, TypeError):
        raise Http404("No such invitation.")


def access_lead_role(user, role_id) -> LanguageRole:
    """A language-lead role in a language ``user`` leads (any, for staff)."""
    try:
        return leads_of(languages_led_by(user)).get(pk=role_id)
    except (LanguageRole.DoesNotExist, ValueError, TypeError):
        raise Http404("No such lead.")
