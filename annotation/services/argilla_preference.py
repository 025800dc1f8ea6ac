"""Preference records in Argilla: what a record shows there, and an Argilla answer read back as a judgement.

Argilla shows one order of the responses to every annotator of a record, so
that order is shuffled per record (seeded by its id, the same on every push
and pull): the order uploaded, ``chosen`` first, would tell which one the
partner preferred. Answers name responses by the position shown; they come
back as judgements in the stored numbering (``preference_judgement``), the
same a reviewer on the portal gives, so consensus and agreement count them
alike.
"""

import random

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from annotation import argilla
from annotation.services.preference_judgement import stored_responses


def shown_order(record_id: int, count: int) -> list[int]:
    """The stored numbers of a record's responses in the order Argilla shows them."""
    order = list(range(count))
    random.Random(f"argilla-{record_id}").shuffle(order)
    return order


def preference_push_content(record) -> dict:
    """The prompt as turns (a string prompt is one user turn) and the responses in the order shown."""
    prompt, responses = record.content["prompt"], stored_responses(record)
    turns = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
    return {"prompt": turns, "responses": [responses[i] for i in shown_order(record.pk, len(responses))]}


def preference_answer(record, response: argilla.PulledResponse) -> dict:
    """``review_submit``'s arguments for a submitted answer: flags make it a flag, else the verdict's judgement."""
    if response.flags:
        return {"action": "flag", "flags": list(response.flags)}
    written = (response.values.get("written") or "").strip()
    verdict = response.values.get("verdict")
    if verdict in ("tie", "both_bad"):
        judgement = {"type": verdict}
    elif verdict == "ranked":
        judgement = _ranked(record, response.values.get("ranking") or [])
    else:
        raise ValidationError(_("The Argilla answer has no judgement."))
    return {"action": "judge", "judgement": judgement | ({"written": written} if written else {})}


def _ranked(record, ranking: list[dict]) -> dict:
    """Argilla's ranks (1 best, ties allowed) as the judgement a reviewer on the portal would give.

    A strict order of three or more responses is a ranking; otherwise a
    sole first place is a best pick (as the portal's form gives for a pair).
    Ranks given to positions the record does not fill (a pair in a dataset
    that shows three) are ignored. A first place shared by every response
    is a tie; shared by some only, it names no best and is refused.
    """
    order = shown_order(record.pk, len(stored_responses(record)))
    ranks = {}
    for item in ranking:
        position = _position(item.get("value"))
        if position is not None and position < len(order) and item.get("rank") is not None:
            ranks[order[position]] = item["rank"]
    if len(ranks) != len(order):
        raise ValidationError(_("The Argilla answer does not rank every response."))
    best = min(ranks.values())
    firsts = [index for index, rank in ranks.items() if rank == best]
    if len(firsts) == len(order):
        return {"type": "tie"}
    if len(firsts) > 1:
        raise ValidationError(_("The Argilla answer puts several responses first."))
    if len(order) > 2 and len(set(ranks.values())) == len(order):
        return {"type": "ranking", "ranking": sorted(ranks, key=ranks.get)}
    return {"type": "best", "best": firsts[0]}


def _position(value) -> int | None:
    for number in range(1, argilla.RESPONSES_MAX + 1):
        if value == argilla.response_field(number):
            return number - 1
    return None
