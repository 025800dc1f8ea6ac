"""Writes for preference review: the order shown to an annotator, the reviewed order, pairs written in review.

Judgements as data (numbering, checks, consensus) live in ``preference_judgement``.
"""

import random

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from annotation.models import Annotation, Assignment, Record
from annotation.services.preference_judgement import stored_responses
from annotation.services.writing import writing_create


def preference_order_show(*, assignment: Assignment, rng=random) -> list[int]:
    """The order the annotator sees the responses in: shuffled once, then kept (the same on every reload)."""
    if assignment.shown_order is None:
        order = list(range(len(stored_responses(assignment.record))))
        rng.shuffle(order)
        # Only while unset: two tabs loading at once keep the first order stored.
        Assignment.objects.filter(pk=assignment.pk, shown_order__isnull=True).update(shown_order=order)
        assignment.shown_order = Assignment.objects.values_list("shown_order", flat=True).get(pk=assignment.pk)
    return assignment.shown_order


def preference_settle(*, record: Record, best: int | None, annotations) -> None:
    """Put the decided order on the record and turn the responses written in review into new pairs.

    Accepted (``best`` given): ``chosen`` becomes the best response and
    ``rejected`` the others, ordered by the annotators' mean rank (stored
    order breaks ties); ``meta`` keeps the original responses and the
    reviewed order. Each response written in review becomes a record of
    its own: the written one chosen, the best one (the original ``chosen``
    when no best was agreed) rejected; one that fails the writing checks
    (already in the portal, certification withdrawn) is left out.
    """
    content = record.content
    original = stored_responses(record)  # a second adjudication numbers them as the first did
    if best is not None:
        order = [best, *sorted((i for i in range(len(original)) if i != best), key=_mean_rank(annotations))]
        reordered = [original[i] for i in order]
        rejected = reordered[1:] if isinstance(content["rejected"], list) else reordered[1]
        record.content = {**content, "chosen": reordered[0], "rejected": rejected}
        record.meta = {**record.meta, "original_responses": original, "reviewed_order": order}
        Record.objects.filter(pk=record.pk).update(content=record.content, meta=record.meta)
    beaten = original[0 if best is None else best]
    for annotation in annotations:
        written = (annotation.judgement or {}).get("written")
        if written:
            _write_pair(annotation, record, {"prompt": content["prompt"], "chosen": written, "rejected": beaten})


def _mean_rank(annotations):
    ranks = {}
    for annotation in annotations:
        for position, index in enumerate((annotation.judgement or {}).get("ranking", [])):
            ranks.setdefault(index, []).append(position)
    return lambda index: (sum(ranks[index]) / len(ranks[index]) if index in ranks else float("inf"), index)


def _write_pair(annotation, record, content):
    try:
        with transaction.atomic():
            # Not an edit_of: a snapshot puts an accepted edit in its original's place, and this pair adds to it.
            written = writing_create(
                author=annotation.annotator, language=record.language, kind=record.kind, content=content,
                source_record=record,
            )
    except (ValidationError, PermissionDenied):
        return
    Annotation.objects.filter(pk=annotation.pk).update(edit_record=written)
