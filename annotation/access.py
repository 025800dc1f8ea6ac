"""Fetch objects for a user, with the permission check.

Someone else's object answers exactly like a missing one: ``Http404``.
"""

from django.http import Http404

from occiportal.models import Language, Partner

from .models import Assignment, ReviewDecision, ReviewQueue, Submission
from .review_selectors import decisions_led_by, is_queue_visible_to, languages_led_by
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


def access_queue(user, queue_id) -> ReviewQueue:
    """A review queue of a language ``user`` annotates or leads (any, for staff)."""
    try:
        queue = ReviewQueue.objects.select_related("language").get(pk=queue_id)
    except (ReviewQueue.DoesNotExist, ValueError, TypeError):
        raise Http404("No such queue.")
    if not is_queue_visible_to(user, queue):
        raise Http404("No such queue.")
    return queue


def access_assignment(user, assignment_id) -> Assignment:
    """One of ``user``'s own assignments; nobody else's, staff included."""
    try:
        return Assignment.objects.select_related("queue__language", "record").get(pk=assignment_id, annotator=user)
    except (Assignment.DoesNotExist, ValueError, TypeError):
        raise Http404("No such item.")


def access_decision_for_adjudication(user, decision_id) -> ReviewDecision:
    """A decision in a language ``user`` leads (any, for staff)."""
    try:
        return decisions_led_by(user).get(pk=decision_id)
    except (ReviewDecision.DoesNotExist, ValueError, TypeError):
        raise Http404("No such decision.")


def access_language_led(user, code) -> Language:
    """A language ``user`` leads (or any, for staff): where they certify annotators."""
    try:
        return languages_led_by(user).get(code=code)
    except Language.DoesNotExist:
        raise Http404("No such language.")
