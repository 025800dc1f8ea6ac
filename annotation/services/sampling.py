"""Sampled review of pretraining documents: a submission's sample decides the rest of it."""

from django.db.models import Count, Q

from annotation.models import Record, ReviewDecision
from annotation.review_selectors import queue_records


def review_sample_settle(*, queue, submission_id: int) -> int:
    """Once every sampled record of a submission is decided, accept or reject its unsampled rest.

    The rest is accepted when the sample's acceptance rate reaches the
    queue's ``sample_threshold``, rejected otherwise. Returns how many
    records were settled: 0 while the sample is still open or has disputes.
    Idempotent: only records still pending are touched.
    """
    if queue.sample_rate >= 1:
        return 0
    sample = queue_records(queue).filter(submission_id=submission_id).exclude(status=Record.Status.WITHDRAWN)
    figures = queue.decisions.filter(record__in=sample).aggregate(
        decided=Count("pk"),
        accepted=Count("pk", filter=Q(outcome=ReviewDecision.Outcome.ACCEPTED)),
        disputed=Count("pk", filter=Q(outcome=ReviewDecision.Outcome.DISPUTED)),
    )
    total = sample.count()
    if not total or figures["disputed"] or figures["decided"] < total:
        return 0
    keep = figures["accepted"] / total >= queue.sample_threshold
    rest = queue_records(queue, sampled=False).filter(submission_id=submission_id, status=Record.Status.PENDING)
    rest = rest.exclude(pk__in=sample.values("pk"))
    return rest.update(status=Record.Status.ACCEPTED if keep else Record.Status.REJECTED)
