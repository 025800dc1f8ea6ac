"""The Argilla bridge: a queue's records out to its Argilla dataset, submitted answers back in.

Answers come back as ordinary annotations of the portal user whose username
matches the Argilla user's, with a submitted assignment of their own (no
lease: the work was done in Argilla), and then the queue's consensus rule
is applied as after any answer. ``(record, annotator)`` is the natural key:
an answer the portal already holds is never imported twice, so pulling is
safe to repeat, on a schedule or on demand.
"""

from dataclasses import asdict, dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from annotation import argilla
from annotation.models import Annotation, Assignment, Record, ReviewDecision, ReviewQueue
from annotation.models.review import Flag
from annotation.review_selectors import is_certified, queue_records

# The same checks and edit handling as an answer given on the portal
# (private helpers of the review service: see the note in the report).
from annotation.services.review import review_answer_clean, review_edit_record, review_consensus_evaluate

PUSH_CHUNK = 500
NO_REASON = "Rejected in Argilla without a reason."
DEFAULT_WORKSPACE = "occiportal"


@dataclass
class PullResult:
    """What one pull did with each submitted Argilla answer."""

    created: int = 0
    known: int = 0  # already in the portal: pulled before, or answered on the portal
    unknown_user: int = 0  # no portal user has the Argilla username
    not_allowed: int = 0  # not certified, their own record, or not a record of this queue
    invalid: int = 0  # breaks the portal's rules (no decision, an edit already in the portal, …)

    def as_dict(self) -> dict:
        return asdict(self)


def argilla_connection() -> argilla.Connection:
    if not argilla_configured():
        raise ImproperlyConfigured("Set ARGILLA_API_URL and ARGILLA_API_KEY to use the Argilla bridge.")
    return argilla.Connection(
        api_url=settings.ARGILLA_API_URL, api_key=settings.ARGILLA_API_KEY,
        workspace=getattr(settings, "ARGILLA_WORKSPACE", None) or DEFAULT_WORKSPACE,
    )


def argilla_configured() -> bool:
    return bool(getattr(settings, "ARGILLA_API_URL", None) and getattr(settings, "ARGILLA_API_KEY", None))


def argilla_push(*, queue_id: int) -> int:
    """Send the queue's undecided pending records to its Argilla dataset (created on first push).

    Records keep their portal ids in Argilla, so a second push updates
    rather than duplicates. Returns how many records were sent.
    """
    queue = ReviewQueue.objects.select_related("language").get(pk=queue_id)
    decided = ReviewDecision.objects.filter(queue=queue, record=OuterRef("pk"))
    records = (
        queue_records(queue).filter(status=Record.Status.PENDING).exclude(Exists(decided))
        .select_related("submission__partner").order_by("pk")
    )
    items = (_push_item(queue, record) for record in records.iterator(chunk_size=PUSH_CHUNK))
    return argilla.records_push(argilla_connection(), _spec(queue), items)


def _spec(queue) -> argilla.DatasetSpec:
    return argilla.DatasetSpec(
        queue_id=queue.pk, kind=queue.kind, guidelines=queue.guidelines, overlap=queue.overlap,
        rating_scales=list(queue.rating_scales), flags={flag.value: str(flag.label) for flag in Flag},
    )


def _push_item(queue, record) -> argilla.PushItem:
    return argilla.PushItem(
        record_id=record.pk, kind=record.kind, content=record.content, language=queue.language.code,
        partner=record.submission.partner.slug, edit_text=editable_text(record.kind, record.content),
        detected_language=record.detected_language, language_score=record.language_score,
        language_mismatch=record.language_mismatch, quality=record.quality or {},
    )


def editable_text(kind: str, content: dict) -> str:
    """The part of a record an Argilla edit corrects."""
    if kind == "conversation":
        return next(m["content"] for m in reversed(content["messages"]) if m["role"] == "assistant")
    return content[{"pretraining": "text", "instruction": "response", "evaluation": "question"}[kind]]


def content_with_edit(kind: str, content: dict, text: str) -> dict:
    if kind != "conversation":
        key = {"pretraining": "text", "instruction": "response", "evaluation": "question"}[kind]
        return {**content, key: text}
    messages = [dict(m) for m in content["messages"]]
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    messages[last]["content"] = text
    return {**content, "messages": messages}


def argilla_pull(*, queue_id: int) -> PullResult:
    """Turn the submitted answers in the queue's Argilla dataset into portal annotations.

    Idempotent: answers already in the portal are counted as known and left
    alone. Answers of Argilla users without a portal account of the same
    username, or who may not review the record, are skipped and counted.
    """
    queue = ReviewQueue.objects.select_related("language").get(pk=queue_id)
    responses = argilla.responses_pull(argilla_connection(), _spec(queue))
    users = {u.get_username(): u for u in get_user_model().objects.filter(username__in={r.username for r in responses})}
    result = PullResult()
    for response in responses:
        outcome = _import(queue, response, users.get(response.username))
        setattr(result, outcome, getattr(result, outcome) + 1)
    return result


@transaction.atomic
def _import(queue, response: argilla.PulledResponse, annotator) -> str:
    """One answer into the portal; returns the ``PullResult`` count it adds to."""
    if annotator is None:
        return "unknown_user"
    # The record's row lock serialises this with portal answers to the same record (see review_submit).
    mine = queue_records(queue).filter(pk=response.record_id).select_related("submission")
    record = mine.select_for_update(no_key=True, of=("self",)).first()
    if record is None:
        return "not_allowed"
    assignment = Assignment.objects.select_for_update().filter(record=record, annotator=annotator).first()
    if assignment is not None and assignment.status != Assignment.Status.LEASED:
        return "known"
    if record.submission.uploader_id == annotator.pk or not is_certified(annotator, queue.language.code):
        return "not_allowed"
    try:
        answer = _answer(queue, record, response)
        edit_record = None
        if answer["action"] == Annotation.Action.EDIT:
            edit_record = review_edit_record(annotator=annotator, record=record, edited_content=answer["edited_content"])
    except ValidationError:
        return "invalid"
    _record_answer(queue, record, annotator, assignment, answer, edit_record)
    return "created"


def _answer(queue, record, response) -> dict:
    """The portal's answer for an Argilla response: a changed text is an edit, whatever the decision."""
    edited, action, reason, text = None, response.decision, response.reason, response.edit_text.strip()
    if text and text != editable_text(record.kind, record.content).strip():
        action, edited = Annotation.Action.EDIT, content_with_edit(record.kind, record.content, text)
    elif action == "reject" and not reason:
        # Argilla cannot make the reason required only on reject: flags stand for it, else a stock reason.
        action, reason = (Annotation.Action.FLAG, "") if response.flags else (action, NO_REASON)
    elif action not in ("accept", "reject"):
        raise ValidationError(_("The Argilla answer has no decision."))
    ratings, flags = review_answer_clean(queue, action, reason, dict(response.ratings), list(response.flags), edited)
    return {"action": action, "reason": reason, "ratings": ratings, "flags": flags, "edited_content": edited}


def _record_answer(queue, record, annotator, assignment, answer, edit_record):
    now = timezone.now()
    if assignment is None:
        assignment = Assignment(record=record, annotator=annotator)
    assignment.queue = queue
    # A portal lease the annotator held on the record is answered by their Argilla work.
    assignment.status, assignment.leased_until, assignment.finished_at = Assignment.Status.SUBMITTED, now, now
    assignment.save()
    Annotation.objects.create(
        assignment=assignment, queue=queue, record=record, annotator=annotator, edit_record=edit_record, **answer
    )
    review_consensus_evaluate(queue=queue, record=record)


def argilla_queue_ids() -> list[int]:
    """Active queues that have an Argilla dataset: those a scheduled pull visits."""
    pushed = argilla.queue_ids_with_datasets(argilla_connection())
    return sorted(ReviewQueue.objects.filter(pk__in=pushed, active=True).values_list("pk", flat=True))
