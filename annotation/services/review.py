"""Writes for review: queues, certifications, answers, consensus, adjudication.

Handing out the next item lives in ``review_claim`` and is exported here
with the rest. Callers fetch objects through ``annotation.access`` first; these services
check the role the action itself needs (lead, certified annotator) and
raise ``PermissionDenied`` or ``ValidationError``.
"""

from collections import Counter

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from annotation.models import (
    Annotation,
    Assignment,
    Certification,
    ContributorPreference,
    Record,
    ReviewDecision,
    ReviewQueue,
)
from annotation.models.review import DEFAULT_OVERLAP, RATING_MAX, RATING_MIN, VOTES, Flag
from annotation.models.submissions import Kind
from annotation.review_selectors import is_language_lead, live_assignments
from annotation.services.preference_judgement import (
    answer_key,
    preference_consensus,
    preference_judgement_clean,
    stored_responses,
)
from annotation.services.review_claim import review_item_claim
from annotation.services.review_preference import preference_settle
from annotation.services.sampling import review_sample_settle
from annotation.services.writing import writing_create
from occiportal.models import Language


@transaction.atomic
def queue_create(
    *,
    creator,
    language,
    kind: str,
    name: str,
    guidelines: str = "",
    overlap: int | None = None,
    consensus: int | None = None,
    sample_rate: float = 1.0,
    rating_scales: list[str] | None = None,
    lease_minutes: int = 30,
    submissions=(),
    partners=(),
) -> ReviewQueue:
    """A queue for one language and kind; only its language lead or staff may create one.

    Overlap defaults per kind (``DEFAULT_OVERLAP``) and consensus to all of
    the overlap agreeing. Sampling is for pretraining documents only.
    """
    if not is_language_lead(creator, language.code):
        raise PermissionDenied(_("Only the language's lead or staff may create its queues."))
    if kind != Kind.PRETRAINING and sample_rate != 1:
        raise ValidationError({"sample_rate": _("Only pretraining documents are sampled.")})
    if any(s.language_id != language.pk or s.kind != kind for s in submissions):
        raise ValidationError({"submissions": _("The submissions must be of the queue's language and kind.")})
    overlap = overlap or DEFAULT_OVERLAP[kind]
    queue = ReviewQueue(
        name=name, language=language, kind=kind, guidelines=guidelines, overlap=overlap,
        consensus=consensus or overlap, sample_rate=sample_rate, lease_minutes=lease_minutes,
        rating_scales=list(rating_scales or []), created_by=creator,
    )
    queue.full_clean()
    queue.save()
    queue.submissions.set(submissions)
    queue.partners.set(partners)
    return queue


def certification_grant(*, granter, user, language_code: str) -> Certification:
    """Certify ``user`` for a language or variant; granting twice changes nothing."""
    if not Language.objects.filter(code=language_code.split("-")[0]).exists():
        raise ValidationError(
            {"language_code": _("Unknown language %(code)s; see the list of languages.") % {"code": language_code}}
        )
    if not is_language_lead(granter, language_code):
        raise PermissionDenied(_("Only the language's lead or staff may certify annotators."))
    return certification_ensure(user=user, language_code=language_code, granted_by=granter)


def certification_ensure(*, user, language_code: str, granted_by=None) -> Certification:
    """The live certification of ``user`` for a language, made if missing; callers decide who may."""
    live = Certification.objects.filter(user=user, language_code=language_code, withdrawn_at__isnull=True).first()
    if live:
        return live
    certification = Certification(user=user, language_code=language_code, granted_by=granted_by)
    certification.full_clean(exclude=["granted_by"])  # None: granted by an operator's command
    certification.save()
    return certification


def certification_withdraw(*, withdrawer, certification: Certification) -> Certification:
    """End a certification; its holder gets no new items of that language (leases run out)."""
    if not is_language_lead(withdrawer, certification.language_code):
        raise PermissionDenied(_("Only the language's lead or staff may withdraw a certification."))
    if certification.withdrawn_at is None:
        certification.withdrawn_at = timezone.now()
        certification.withdrawn_by = withdrawer
        certification.save(update_fields=["withdrawn_at", "withdrawn_by"])
    return certification


@transaction.atomic
def review_submit(
    *,
    assignment: Assignment,
    action: str,
    reason: str = "",
    ratings: dict | None = None,
    flags: list[str] | None = None,
    edited_content: dict | None = None,
    judgement: dict | None = None,
    now=None,
) -> Annotation:
    """Answer a leased item; then apply the queue's consensus rule to its record.

    A late answer on an expired lease still counts if nobody took its slot
    meanwhile. An edit never changes the record: it is kept on the answer and
    enters review as a record of its own, credited to the annotator. The
    answer comes back with ``decision`` set: the record's decision in the
    queue after it, or None (left unset for a skip, which decides nothing).
    In a preference queue the answer is a ``judge`` (with its ``judgement``,
    see ``preference_judgement``), a flag or a skip.
    """
    now = now or timezone.now()
    _lock_for_answer(assignment)
    queue, record = assignment.queue, assignment.record
    if assignment.status != Assignment.Status.LEASED:
        raise ValidationError(_("This item has already been answered."))
    ratings, flags = review_answer_clean(queue, action, reason, ratings or {}, flags or [], edited_content)
    if action == Annotation.Action.JUDGE:
        judgement = preference_judgement_clean(judgement, len(stored_responses(record)))
    if assignment.leased_until <= now and _slots_taken(queue=queue, record=record, now=now, excluding=assignment.pk) >= queue.overlap:
        raise ValidationError(_("Your lease on this item ran out and someone else has taken it."))
    edit_record = None
    if action == Annotation.Action.EDIT:
        edit_record = review_edit_record(annotator=assignment.annotator, record=record, edited_content=edited_content)
    skipped = action == Annotation.Action.SKIP
    assignment.status = Assignment.Status.SKIPPED if skipped else Assignment.Status.SUBMITTED
    assignment.finished_at = now
    assignment.save(update_fields=["status", "finished_at"])
    annotation = Annotation.objects.create(
        assignment=assignment, queue=queue, record=record, annotator_id=assignment.annotator_id, action=action,
        reason=reason.strip(), ratings=ratings, flags=flags, edited_content=edited_content, edit_record=edit_record,
        judgement=judgement if action == Annotation.Action.JUDGE else None,
    )
    if not skipped:
        annotation.decision = review_consensus_evaluate(queue=queue, record=record)
    return annotation


def _lock_for_answer(assignment):
    """Lock the assignment and its record row; re-read what may have changed since the caller fetched it."""
    # Not the queue: locking it would block every claimer's insert. The caller
    # fetched the queue and record already (access_assignment); content never changes.
    fresh = (Assignment.objects.select_for_update(no_key=True, of=("self", "record")).select_related("record")
             .only("status", "leased_until", "queue_id", "record__id").get(pk=assignment.pk))
    assignment.status, assignment.leased_until, assignment.queue_id = fresh.status, fresh.leased_until, fresh.queue_id


def _slots_taken(*, queue, record, now, excluding) -> int:
    # A new statement under the record's lock: it sees every lease committed before.
    return live_assignments(queue, now).filter(record=record).exclude(pk=excluding).count()


def review_edit_record(*, annotator, record, edited_content) -> Record:
    """The corrected version as a record of its own, credited to the annotator, pending review."""
    if edited_content == record.content:
        raise ValidationError({"edited_content": _("The edit changes nothing.")})
    try:
        return writing_create(
            author=annotator, language=record.language, kind=record.kind, content=edited_content, edit_of=record
        )
    except PermissionDenied as error:  # certification withdrawn while the lease ran
        raise ValidationError(str(error))


# Answers a preference item takes besides its judgement.
PREFERENCE_ALSO = (Annotation.Action.FLAG, Annotation.Action.SKIP)


def review_answer_clean(queue, action, reason, ratings, flags, edited_content):
    errors = {}
    preference = queue.kind == Kind.PREFERENCE
    if action not in Annotation.Action.values:
        errors["action"] = _("Unknown action.")
    elif preference != (action == Annotation.Action.JUDGE) and action not in PREFERENCE_ALSO:
        errors["action"] = _("Preference items are judged, flagged or skipped; other items are not judged.")
    if action == Annotation.Action.REJECT and not reason.strip():
        errors["reason"] = _("Say why you reject it.")
    if action == Annotation.Action.EDIT and not isinstance(edited_content, dict):
        errors["edited_content"] = _("An edit needs the corrected content.")
    if action == Annotation.Action.FLAG and not flags:
        errors["flags"] = _("Choose at least one flag.")
    if any(flag not in Flag.values for flag in flags):
        errors["flags"] = _("Unknown flag.")
    clean = {scale: value for scale, value in ratings.items() if value not in (None, "")}
    if any(scale not in queue.rating_scales for scale in clean):
        errors["ratings"] = _("Unknown rating scale.")
    elif any(not isinstance(v, int) or isinstance(v, bool) or not RATING_MIN <= v <= RATING_MAX for v in clean.values()):
        errors["ratings"] = _("Ratings run from 1 to 5.")
    if errors:
        raise ValidationError(errors)
    return clean, sorted(set(flags))


def review_consensus_evaluate(*, queue: ReviewQueue, record: Record) -> ReviewDecision | None:
    """Decide a record once ``overlap`` votes are in: k agreeing accept or reject, else disputed.

    Callers hold the record's row lock, so two last votes cannot both miss
    each other. None while fewer votes are in; a decision once taken (or
    adjudicated) is not taken again.
    """
    preference = queue.kind == Kind.PREFERENCE
    answers = queue.annotations.filter(record=record)
    given = answers.order_by().values_list("action", "judgement")
    votes = Counter(answer_key(action, judgement) if preference else VOTES.get(action) for action, judgement in given)
    votes.pop(None, None)  # skips
    if sum(votes.values()) < queue.overlap:
        return None
    if existing := ReviewDecision.objects.filter(queue=queue, record=record).first():
        return existing
    if preference:
        outcome, best = preference_consensus(votes, queue.consensus)
    else:
        accept, reject = votes["accept"] >= queue.consensus, votes["reject"] >= queue.consensus
        if accept != reject:
            outcome = ReviewDecision.Outcome.ACCEPTED if accept else ReviewDecision.Outcome.REJECTED
        else:
            outcome = ReviewDecision.Outcome.DISPUTED
    decision = ReviewDecision.objects.create(queue=queue, record=record, outcome=outcome, votes=dict(votes))
    if preference and outcome != ReviewDecision.Outcome.DISPUTED:
        preference_settle(record=record, best=best, annotations=answers.select_related("annotator"))
    _set_record_status(queue, record, outcome)
    return decision


@transaction.atomic
def review_adjudicate(
    *, lead, decision: ReviewDecision, outcome: str, note: str = "", best: int | None = None
) -> ReviewDecision:
    """The language lead's word on a record: accepted or rejected, with a note.

    Accepting a preference record names its ``best`` response (stored
    numbering); the record then takes the reviewed order as after a consensus.
    """
    if not is_language_lead(lead, decision.queue.language.code):
        raise PermissionDenied(_("Only the language's lead or staff may adjudicate."))
    if outcome not in (ReviewDecision.Outcome.ACCEPTED, ReviewDecision.Outcome.REJECTED):
        raise ValidationError({"outcome": _("Choose accepted or rejected.")})
    decision = ReviewDecision.objects.select_for_update(of=("self",)).select_related("record").get(pk=decision.pk)
    preference = decision.queue.kind == Kind.PREFERENCE
    if preference and outcome == ReviewDecision.Outcome.ACCEPTED:
        if best not in range(len(stored_responses(decision.record))):
            raise ValidationError({"best": _("Choose the best response.")})
    decision.outcome, decision.adjudicated_by, decision.note = outcome, lead, note.strip()
    decision.save(update_fields=["outcome", "adjudicated_by", "note", "decided_at"])
    if preference:
        answers = decision.queue.annotations.filter(record=decision.record).select_related("annotator")
        preference_settle(record=decision.record, best=best if outcome == "accepted" else None, annotations=answers)
    _set_record_status(decision.queue, decision.record, outcome)
    return decision


def _set_record_status(queue, record, outcome):
    status = {"accepted": Record.Status.ACCEPTED, "rejected": Record.Status.REJECTED}.get(outcome)
    if status:
        Record.objects.filter(pk=record.pk).exclude(status=Record.Status.WITHDRAWN).update(status=status)
        review_sample_settle(queue=queue, submission_id=record.submission_id)
    # A dispute leaves the record pending; the queue stops handing it out (it has a decision row).


def contributor_preference_set(*, user, on_leaderboard: bool) -> ContributorPreference:
    """Join or leave the per-language contributors' leaderboards."""
    preference, _created = ContributorPreference.objects.update_or_create(
        user=user, defaults={"on_leaderboard": on_leaderboard}
    )
    return preference


__all__ = [
    "contributor_preference_set",
    "certification_ensure",
    "certification_grant",
    "certification_withdraw",
    "queue_create",
    "review_adjudicate",
    "review_consensus_evaluate",
    "review_item_claim",
    "review_submit",
]
