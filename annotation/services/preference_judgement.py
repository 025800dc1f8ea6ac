"""Preference judgements as data: checked, counted towards consensus, turned into ranks. No queries here.

A preference record's responses are numbered as stored: 0 is ``chosen``,
1… the ``rejected`` ones (one string for a pair, a list for a ranking).
Judgements name responses by these numbers, never by the position shown.
"""

from collections import Counter

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

JUDGEMENT_TYPES = ("best", "ranking", "tie", "both_bad")
WRITTEN_MAX_CHARS = 20000


def responses_of(content: dict) -> list[str]:
    """The record's responses in stored order: ``chosen``, then the ``rejected`` one(s)."""
    rejected = content["rejected"]
    return [content["chosen"], *(rejected if isinstance(rejected, list) else [rejected])]


def stored_responses(record) -> list[str]:
    """The responses as numbered for judgements: as uploaded, also once review has reordered the record."""
    return (record.meta or {}).get("original_responses") or responses_of(record.content)


def preference_judgement_clean(judgement, count: int) -> dict:
    """A judgement checked against ``count`` responses; ``ValidationError`` names what is wrong."""
    kind = judgement.get("type") if isinstance(judgement, dict) else None
    if kind not in JUDGEMENT_TYPES:
        raise ValidationError({"judgement": _("Pick the better response, rank them, or say tie or both bad.")})
    clean = {"type": kind}
    if kind == "best":
        if judgement.get("best") not in range(count):
            raise ValidationError({"judgement": _("Pick one of the responses shown.")})
        clean["best"], clean["count"] = judgement["best"], count  # the count: a pick ranks all the others below
    if kind == "ranking":
        if sorted(judgement.get("ranking") or []) != list(range(count)):
            raise ValidationError({"judgement": _("Rank every response shown, each once.")})
        clean["ranking"] = list(judgement["ranking"])
    written = (judgement.get("written") or "").strip()
    if len(written) > WRITTEN_MAX_CHARS:
        raise ValidationError({"judgement": _("The response you wrote is too long.")})
    return clean | ({"written": written} if written else {})


def answer_key(action: str, judgement) -> str | None:
    """What an answer counts as under the consensus rule: "best:<n>", "tie", "both_bad", "flag", or None (skip)."""
    if action == "flag":
        return "flag"
    judgement = judgement or {}
    if judgement.get("type") == "best":
        return f"best:{judgement['best']}"
    if judgement.get("type") == "ranking":
        return f"best:{judgement['ranking'][0]}"
    return judgement.get("type")


def preference_consensus(votes: Counter, consensus: int) -> tuple[str, int | None]:
    """("accepted", best) when k agree on a best response; ("rejected", None) when k agree on tie, both bad
    or a flag; ("disputed", None) otherwise, two answers with as many votes included."""
    ranked = votes.most_common()
    top, count = ranked[0]
    if count < consensus or (len(ranked) > 1 and ranked[1][1] == count):
        return "disputed", None
    if top.startswith("best:"):
        return "accepted", int(top.removeprefix("best:"))
    return "rejected", None


def judgement_ranks(judgement) -> list[float] | None:
    """Ranks (1 = best) of the responses by number: a ranking's positions; for a best pick, the others tied
    at their mean rank; None for a tie, both bad or no judgement, which order nothing."""
    judgement = judgement or {}
    if judgement.get("type") == "ranking":
        ranks = [0.0] * len(judgement["ranking"])
        for position, index in enumerate(judgement["ranking"]):
            ranks[index] = float(position + 1)
        return ranks
    if judgement.get("type") == "best":
        count = judgement["count"]
        return [1.0 if index == judgement["best"] else (2 + count) / 2 for index in range(count)]
    return None
