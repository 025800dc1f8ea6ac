"""The Argilla bridge: a queue's open records out to its Argilla dataset, answers back in.

Answers come back as those of the portal user whose username matches the
Argilla user's, through ``review_submit`` as if given on the portal: a
submitted answer is a vote and the queue's consensus rule is applied; a
discarded one (Argilla's Discard button) is a skip, which frees the slot. ``(record, annotator)``
is the natural key: an answer the portal already holds is never imported
twice, so pulling is safe to repeat, on a schedule or on demand.

The dataset holds the queue's open records only: after every push and pull,
records the portal has decided (or that left the queue) are deleted from
it, so Argilla's annotators stop spending time on them.
"""

from dataclasses import asdict, dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.admin.models import CHANGE, LogEntry
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
from annotation.services.argilla_preference import preference_answer, preference_push_content
from annotation.services.record_text import record_content_fill
from annotation.services.review import review_submit

PUSH_CHUNK = 500
NO_REASON = "Rejected in Argilla without a reason."
DEFAULT_WORKSPACE = "occiportal"


@dataclass
class SyncResult:
    """What one push or pull did: records sent and removed, and what became of each Argilla answer."""

    pushed: int = 0  # records sent to Argilla
    kept_back: int = 0  # preference records with more responses than the dataset shows: left to the portal's reviewers
    pulled: int = 0  # submitted answers recorded as the portal user's answers
    skipped: int = 0  # discarded answers recorded as the portal user's skips
    removed: int = 0  # records no longer open on the portal, deleted from the dataset
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


def argilla_push(*, queue_id: int) -> SyncResult:
    """Send the queue's open records to its Argilla dataset (created on first push); remove closed ones.

    A pull comes first: answers given in Argilla to records decided on the
    portal meanwhile are taken in before those records leave the dataset.
    Records keep their portal ids in Argilla, so a second push updates
    rather than duplicates.
    """
    queue = ReviewQueue.objects.select_related("language").get(pk=queue_id)
    result = argilla_pull(queue_id=queue_id)  # nothing to pull or remove before the first push
    records = _open_records(queue).select_related("submission__partner").order_by("pk")
    items = (_push_item(queue, record) for record in records.iterator(chunk_size=PUSH_CHUNK))
    spec = _spec(queue, responses=_responses_shown(queue) if queue.kind == "preference" else 2)
    result.pushed, result.kept_back = argilla.records_push(argilla_connection(), spec, items)
    return result


def _responses_shown(queue) -> int:
    """How many responses a new preference dataset shows: the most an open record has, up to RESPONSES_MAX."""
    # A ranking's "rejected" is a list: index n present means n + 2 responses. A pair's is a string.
    shown, records = 2, _open_records(queue)
    while shown < argilla.RESPONSES_MAX and records.filter(**{f"content__rejected__{shown - 1}__isnull": False}).exists():
        shown += 1
    return shown


def _open_records(queue):
    """The records still waiting for answers in the queue, pending and undecided: what its dataset holds."""
    decided = ReviewDecision.objects.filter(queue=queue, record=OuterRef("pk"))
    return queue_records(queue).filter(status=Record.Status.PENDING).exclude(Exists(decided))


def _remove_closed(queue) -> int:
    """Delete from the dataset the records no longer open: decided (a dispute too), withdrawn, out of the queue."""

    def closed(record_ids: list[int]) -> set[int]:
        return set(record_ids) - set(_open_records(queue).filter(pk__in=record_ids).values_list("pk", flat=True))

    return argilla.records_remove(argilla_connection(), queue.pk, closed)


def _spec(queue, responses: int = 2) -> argilla.DatasetSpec:
    return argilla.DatasetSpec(
        queue_id=queue.pk, kind=queue.kind, guidelines=queue.guidelines, overlap=queue.overlap,
        rating_scales=list(queue.rating_scales), flags={flag.value: str(flag.label) for flag in Flag},
        responses=responses,
    )


def _push_item(queue, record) -> argilla.PushItem:
    record_content_fill(record=record)  # pushed is sampled: the text joins the row people edit
    preference = record.kind == "preference"
    return argilla.PushItem(
        record_id=record.pk, kind=record.kind, language=queue.language.code,
        content=preference_push_content(record) if preference else record.content,
        partner=record.submission.partner.slug, edit_text="" if preference else editable_text(record.kind, record.content),
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


def argilla_pull(*, queue_id: int) -> SyncResult:
    """Turn the submitted and discarded answers in the queue's Argilla dataset into portal answers and skips.

    Idempotent: answers already in the portal are counted as known and left
    alone. Answers of Argilla users without a portal account of the same
    username, or who may not review the record, are skipped and counted.
    Then the records decided meanwhile are removed from the dataset.
    """
    queue = ReviewQueue.objects.select_related("language").get(pk=queue_id)
    responses = argilla.responses_pull(argilla_connection(), _spec(queue))
    users = {u.get_username(): u for u in get_user_model().objects.filter(username__in={r.username for r in responses})}
    result = SyncResult()
    for response in responses:
        outcome = _import(queue, response, users.get(response.username))
        setattr(result, outcome, getattr(result, outcome) + 1)
    result.removed = _remove_closed(queue)
    return result


@transaction.atomic
def _import(queue, response: argilla.PulledResponse, annotator) -> str:
    """One answer into the portal; returns the ``SyncResult`` count it adds to."""
    if annotator is None:
        return "unknown_user"
    # The record's row lock serialises this with portal answers to the same record (see review_submit).
    # Assignment first, then record: the order a portal answer locks them in
    # (_lock_for_answer), so the two never wait on each other in a circle.
    assignment = (Assignment.objects.select_for_update(no_key=True)
                  .filter(record_id=response.record_id, annotator=annotator).first())  # fmt: skip
    mine = queue_records(queue).filter(pk=response.record_id).select_related("submission")
    record = mine.select_for_update(no_key=True, of=("self",)).first()
    if record is None:
        return "not_allowed"
    if assignment is not None and assignment.status != Assignment.Status.LEASED:
        return "known"
    if record.submission.uploader_id == annotator.pk or not is_certified(annotator, queue.language.code):
        return "not_allowed"
    try:
        answer = _answer(record, response)
        with transaction.atomic():  # a refused answer leaves no lease behind
            review_submit(assignment=_lease(queue, record, annotator, assignment), **answer)
    except ValidationError:
        return "invalid"
    return "skipped" if answer["action"] == Annotation.Action.SKIP else "pulled"


def _answer(record, response) -> dict:
    """The portal's answer for an Argilla response: a discard is a skip; a changed text is an edit, whatever the decision.

    A preference record's answer is a judgement (see argilla_preference).
    """
    if response.status == argilla.DISCARDED:
        return {"action": Annotation.Action.SKIP}
    if record.kind == "preference":
        return preference_answer(record, response)
    edited, action, reason, text = None, response.decision, response.reason, response.edit_text.strip()
    if text and text != editable_text(record.kind, record.content).strip():
        action, edited = Annotation.Action.EDIT, content_with_edit(record.kind, record.content, text)
    elif action == "reject" and not reason:
        # Argilla cannot make the reason required only on reject: flags stand for it, else a stock reason.
        action, reason = (Annotation.Action.FLAG, "") if response.flags else (action, NO_REASON)
    elif action not in ("accept", "reject"):
        raise ValidationError(_("The Argilla answer has no decision."))
    return {
        "action": action, "reason": reason, "ratings": dict(response.ratings), "flags": list(response.flags),
        "edited_content": edited,
    }


def _lease(queue, record, annotator, assignment) -> Assignment:
    """The lease ``review_submit`` answers: the annotator's portal lease on the record, or a new one.

    The work was done in Argilla, which hands out records by its own rules:
    a portal lease that ran out is renewed rather than refused, and a new
    one is made without the portal's slot count.
    """
    until = timezone.now() + timedelta(minutes=queue.lease_minutes)
    if assignment is None:
        return Assignment.objects.create(queue=queue, record=record, annotator=annotator, leased_until=until)
    assignment.queue, assignment.leased_until = queue, until
    assignment.save(update_fields=["queue", "leased_until"])
    return assignment


def argilla_queue_ids() -> list[int]:
    """Active queues that have an Argilla dataset: those a scheduled pull visits."""
    pushed = argilla.queue_ids_with_datasets(argilla_connection())
    return sorted(ReviewQueue.objects.filter(pk__in=pushed, active=True).values_list("pk", flat=True))


def argilla_sync_log(*, queue_id: int, user_id: int, result: SyncResult) -> None:
    """Note a push or pull an admin asked for in the queue's admin history, with its counts."""
    message = _(
        "Argilla: %(pushed)d pushed, %(pulled)d pulled, %(skipped)d skipped, %(removed)d removed; "
        "%(known)d already known, %(unknown_user)d of unknown users, %(not_allowed)d not allowed, %(invalid)d invalid."
    ) % result.as_dict()
    if result.kept_back:
        message += " " + _(
            "%(kept_back)d preference records have more responses than the Argilla dataset shows: "
            "they stay with the portal's reviewers."
        ) % result.as_dict()
    queue = ReviewQueue.objects.filter(pk=queue_id)
    LogEntry.objects.log_actions(user_id=user_id, queryset=queue, action_flag=CHANGE, change_message=message, single_object=True)
