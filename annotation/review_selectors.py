"""Reads for review: who leads or is certified where, what a queue holds, its figures."""

import re
from collections import Counter, defaultdict

from django.db.models import Count, Exists, F, Q
from django.db.models.functions import Mod
from django.utils import timezone

from occiportal.models import Language, LanguageRole

from .models import Annotation, Assignment, Certification, ContributorPreference, Record, ReviewDecision, ReviewQueue
from .models.review import VOTES
from .models.submissions import Kind
from .services import agreement
from .services.preference_judgement import answer_key, judgement_ranks

# A multiplicative hash spreads record ids evenly over SAMPLE_BUCKETS, so a
# queue's sample is stable (the same records every time) and needs no column.
SAMPLE_BUCKETS = 10_000
SAMPLE_MULTIPLIER = 2_654_435_761


# The reference of a tied item: no annotator's vote matches it.
NO_MAJORITY = "no majority"


def _codes_with_bases(codes):
    """A variant names its base language too: a lead of "pt" leads "pt-BR"."""
    return set(codes) | {code.split("-")[0] for code in codes}


def is_language_lead(user, language_code: str) -> bool:
    """Staff, or a lead of this language or of its base language ("pt" for "pt-BR")."""
    if not user.is_authenticated:
        return False
    if user.is_staff:
        return True
    codes = {language_code, language_code.split("-")[0]}
    return LanguageRole.objects.filter(user=user, role=LanguageRole.Role.LEAD, language__code__in=codes).exists()


def led_language_codes(user) -> set[str]:
    roles = LanguageRole.objects.filter(user=user, role=LanguageRole.Role.LEAD)
    return set(roles.values_list("language__code", flat=True))


def languages_led_by(user):
    """Languages ``user`` leads, with their variants; all of them for staff."""
    if not user.is_authenticated:
        return Language.objects.none()
    if user.is_staff:
        return Language.objects.all()
    led = led_language_codes(user)
    return Language.objects.filter(Q(code__in=led) | Q(code__regex=_variants_of(led)))


def certifications_of(language):
    """Live certifications for a language and its variants, as its lead sees them."""
    live = Certification.objects.filter(withdrawn_at__isnull=True).select_related("user", "granted_by")
    return live.filter(Q(language_code=language.code) | Q(language_code__startswith=f"{language.code}-"))


def certifications_led_by(user):
    """Live certifications in the languages ``user`` leads (all, for staff)."""
    live = Certification.objects.filter(withdrawn_at__isnull=True).select_related("user", "granted_by")
    if user.is_staff:
        return live
    return live.filter(language_code__in=languages_led_by(user).values("code"))


def certified_codes(user) -> set[str]:
    if not user.is_authenticated:
        return set()
    live = Certification.objects.filter(user=user, withdrawn_at__isnull=True)
    return set(live.values_list("language_code", flat=True))


def is_certified(user, language_code: str) -> bool:
    """Certified for exactly this language or variant, or for a variant of it.

    Someone certified for pt-BR may review plain "pt" records; a "pt"
    certification does not reach pt-BR or pt-PT, where the variant matters.
    """
    return language_code in _codes_with_bases(certified_codes(user))


def queues_visible_to(user):
    """Staff see all queues; others those of languages they annotate or lead."""
    queues = ReviewQueue.objects.select_related("language")
    if not user.is_authenticated:
        return queues.none()
    if user.is_staff:
        return queues
    led = led_language_codes(user)
    codes = _codes_with_bases(certified_codes(user)) | led
    return queues.filter(Q(language__code__in=codes) | Q(language__code__regex=_variants_of(led)))


def is_queue_visible_to(user, queue) -> bool:
    """``queues_visible_to`` for one queue in hand, asked on every next-item.

    Certified annotators, the usual askers, cost one small query: composing
    the same rule as SQL subqueries took the ORM longer than three queries.
    """
    if not user.is_authenticated:
        return False
    if user.is_staff:
        return True
    code = queue.language.code
    if is_certified(user, code):
        return True
    led = led_language_codes(user)
    return code in led or any(code.startswith(f"{lead}-") for lead in led)


def _variants_of(codes):
    # A lead of "pt" sees "pt-BR" queues; "^$" matches no language code.
    return "^(" + "|".join(re.escape(code) for code in sorted(codes)) + ")-" if codes else "^$"


def queue_records(queue, *, sampled: bool = True):
    """The records a queue covers: its language and kind, narrowing, and (``sampled``) its sample."""
    records = Record.objects.filter(language_id=queue.language_id, kind=queue.kind)
    # Narrowing in SQL (an InitPlan each), not two more round trips per claim.
    chosen = ReviewQueue.submissions.through.objects.filter(reviewqueue=queue)
    partners = ReviewQueue.partners.through.objects.filter(reviewqueue=queue)
    records = records.filter(~Exists(chosen) | Q(submission_id__in=chosen.values("submission_id")))
    records = records.filter(~Exists(partners) | Q(submission__partner_id__in=partners.values("partner_id")))
    if sampled and queue.sample_rate < 1:
        bucket = Mod(F("id") * SAMPLE_MULTIPLIER, SAMPLE_BUCKETS)
        records = records.alias(bucket=bucket).filter(bucket__lt=int(queue.sample_rate * SAMPLE_BUCKETS))
    return records


def own_open_records(queue, user) -> int:
    """How many of the queue's open records ``user`` uploaded (or wrote): never offered to them."""
    return queue_records(queue).filter(status=Record.Status.PENDING, submission__uploader=user).count()


def live_assignments(queue, now=None):
    """Assignments that hold a slot: answered, or leased and not yet expired."""
    now = now or timezone.now()
    held = Q(status=Assignment.Status.SUBMITTED) | Q(status=Assignment.Status.LEASED, leased_until__gt=now)
    return Assignment.objects.filter(queue=queue).filter(held)


def decisions_led_by(user):
    """Decisions in the languages ``user`` leads (all of them, for staff)."""
    decisions = ReviewDecision.objects.select_related("queue__language", "record")
    if not user.is_authenticated:
        return decisions.none()
    if user.is_staff:
        return decisions
    led = led_language_codes(user)
    return decisions.filter(Q(queue__language__code__in=led) | Q(queue__language__code__regex=_variants_of(led)))


def disputed_decisions(user):
    """The adjudication list: disputed records in the languages ``user`` leads, oldest first."""
    return decisions_led_by(user).filter(outcome=ReviewDecision.Outcome.DISPUTED).order_by("decided_at")


def queue_progress(queue, now=None) -> dict:
    """Done (decided), disputed, in lease, and remaining records of a queue."""
    now = now or timezone.now()
    outcomes = dict(queue.decisions.values_list("outcome").annotate(n=Count("pk")))
    total = queue_records(queue).count()
    decided = sum(outcomes.values())
    return {
        "total": total,
        "accepted": outcomes.get("accepted", 0),
        "rejected": outcomes.get("rejected", 0),
        "disputed": outcomes.get("disputed", 0),
        "done": decided,
        "in_lease": queue.assignments.filter(status=Assignment.Status.LEASED, leased_until__gt=now).count(),
        "remaining": max(total - decided, 0),
    }


def queue_annotator_rows(queue) -> list[dict]:
    """Per annotator: counts per action and agreement with the majority vote.

    Every item an annotator voted on that has at least two votes counts,
    disputed ones included: the reference is the item's strict majority,
    and an item without one (a tie) counts as a disagreement for everyone
    on it. Leaving disputed items out would leave only the items everyone
    agreed on, and read 100 %.
    """
    rows = defaultdict(lambda: {"counts": Counter(), "pairs": []})
    votes = defaultdict(list)
    preference = queue.kind == Kind.PREFERENCE  # its answers vote for a best response, a tie, both bad or a flag
    answers = queue.annotations.values_list("annotator__username", "action", "record_id", "judgement")
    for username, action, record_id, judgement in answers:
        rows[username]["counts"][action] += 1
        if vote := (answer_key(action, judgement) if preference else VOTES.get(action)):
            votes[record_id].append((username, vote))
    for given in votes.values():
        if len(given) < 2:
            continue
        reference = _majority([vote for _, vote in given])
        for username, vote in given:
            rows[username]["pairs"].append((vote, reference))
    return [_annotator_row(name, row) for name, row in sorted(rows.items())]


def _majority(labels: list) -> str:
    """The label more than half of ``labels`` share, or ``NO_MAJORITY``."""
    label, count = Counter(labels).most_common(1)[0]
    return label if 2 * count > len(labels) else NO_MAJORITY


def _annotator_row(name, row):
    pairs = row["pairs"]
    agreed = sum(1 for vote, reference in pairs if vote == reference)
    return {
        "annotator": name,
        "counts": dict(row["counts"]),
        "answered": sum(row["counts"].values()),
        "agreement": agreed / len(pairs) if pairs else None,
        "kappa": agreement.cohen_kappa([v for v, _ in pairs], [r for _, r in pairs]) if pairs else None,
        "items": len(pairs),
    }


def queue_agreement(queue) -> dict:
    """Fleiss' kappa on accept/reject and Krippendorff's alpha (ordinal) per rating scale.

    A preference queue's figures instead: pairwise agreement on the answer
    (which response is best, tie, both bad, flag) and Kendall's W, per item,
    averaged, over the judgements that order the responses.
    """
    if queue.kind == Kind.PREFERENCE:
        return preference_agreement(queue)
    votes, ratings = defaultdict(list), defaultdict(lambda: defaultdict(dict))
    for record_id, annotator_id, action, given in queue.annotations.values_list(
        "record_id", "annotator_id", "action", "ratings"
    ):
        if VOTES.get(action):
            votes[record_id].append(VOTES[action])
        for scale, value in (given or {}).items():
            ratings[scale][annotator_id][record_id] = value
    return {
        "fleiss": agreement.fleiss_kappa_from_labels(list(votes.values()), categories=["accept", "reject"]),
        "alpha": {scale: agreement.krippendorff_alpha_from_coders(ratings[scale], level="ordinal")
                  for scale in queue.rating_scales},
    }


def language_totals(language) -> dict:
    """All queues of a language together: decisions and answers."""
    outcomes = dict(
        ReviewDecision.objects.filter(queue__language=language).values_list("outcome").annotate(n=Count("pk"))
    )
    answers = Annotation.objects.filter(queue__language=language)
    return {
        "accepted": outcomes.get("accepted", 0),
        "rejected": outcomes.get("rejected", 0),
        "disputed": outcomes.get("disputed", 0),
        "answers": answers.count(),
        "annotators": answers.values("annotator").distinct().count(),
    }


def answers_for(decisions) -> dict:
    """The answers behind some decisions, by record: what the lead weighs."""
    answers = {}
    queryset = Annotation.objects.filter(
        record__in=[d.record_id for d in decisions], queue__in={d.queue_id for d in decisions}
    ).select_related("annotator").order_by("created_at")
    for annotation in queryset:
        answers.setdefault(annotation.record_id, []).append(annotation)
    return answers


def translation_source(record_id, language):
    """An accepted instruction record of another language, shown to translate; ``None`` for anything else."""
    try:
        return Record.objects.filter(kind="instruction", status=Record.Status.ACCEPTED).exclude(language=language).get(pk=record_id)
    except (Record.DoesNotExist, ValueError, TypeError):
        return None


def is_on_leaderboard(user) -> bool:
    return not ContributorPreference.objects.filter(user=user, on_leaderboard=False).exists()


LEADERBOARD_SIZE = 50


def contributors(language) -> list[dict]:
    """The language's contributors, most answers first: answers given and records written.

    People who left the leaderboard are not listed.
    """
    hidden = ContributorPreference.objects.filter(on_leaderboard=False).values("user")
    answers = dict(
        Annotation.objects.filter(queue__language=language).exclude(annotator__in=hidden)
        .values_list("annotator__username").annotate(n=Count("pk"))
    )
    written = dict(
        Record.objects.filter(language=language, meta__written=True).exclude(submission__uploader__in=hidden)
        .values_list("submission__uploader__username").annotate(n=Count("pk"))
    )
    rows = [{"name": name, "answers": answers.get(name, 0), "written": written.get(name, 0)} for name in answers | written]
    rows.sort(key=lambda row: (-(row["answers"] + row["written"]), row["name"]))
    return rows[:LEADERBOARD_SIZE]


def preference_agreement(queue) -> dict:
    answers, ranks = defaultdict(list), defaultdict(list)
    for annotation in queue.annotations.exclude(action=Annotation.Action.SKIP).only("record_id", "action", "judgement"):
        answers[annotation.record_id].append(answer_key(annotation.action, annotation.judgement))
        if (given := judgement_ranks(annotation.judgement)) is not None:
            ranks[annotation.record_id].append(given)
    return {
        "pairwise": agreement.pairwise_agreement(list(answers.values())),
        "kendall_w": agreement.kendall_w_mean(list(ranks.values())),
    }
