"""Fetch objects for a user, with the permission check.

Someone else's object answers exactly like a missing one: ``Http404``.
"""

from django.http import Http404

from occiportal.models import Partner

from .models import Submission
from .selectors import submissions_visible_to


def access_submission(user, submission_id) -> Submission:
    try:
        return submissions_visible_to(user).get(pk=submission_id)
    except (Submission.DoesNotExist, ValueError, TypeError):
        raise Http404("No such submission.")


def access_partner_for_submitting(user, slug) -> Partner:
    """The partner ``user`` may submit for; staff may submit for any."""
    partners = Partner.objects.all()
    if not user.is_staff:
        partners = partners.filter(memberships__user=user)
    try:
        return partners.get(slug=slug)
    except Partner.DoesNotExist:
        raise Http404("No such partner.")
