"""What the review pages show: guidelines as safe HTML, a record's fields, figures as rows.

Pure functions over fetched data: no queries here.
"""

import difflib
import re

import markdown
import nh3
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

FIELD_LABELS = {
    "system": _("System"),
    "prompt": _("Prompt"),
    "response": _("Response"),
    "text": _("Text"),
    "question": _("Question"),
    "choices": _("Choices"),
    "answer": _("Answer"),
    "messages": _("Conversation"),
}


def guidelines_html(text: str):
    """Markdown → HTML, then sanitised: guidelines are written by people, shown to others."""
    html = markdown.markdown(text or "", extensions=["sane_lists"])
    return mark_safe(nh3.clean(html))  # nh3 keeps only harmless tags and attributes


def record_fields(content) -> list[tuple[str, str]]:
    """(label, text) pairs for any kind of record; the template escapes the text."""
    if not isinstance(content, dict):
        return [(_("Content"), str(content))]
    rows = []
    for key, value in content.items():
        if key == "messages" and isinstance(value, list):
            value = "\n\n".join(f"{m.get('role', '?')}: {m.get('content', '')}" for m in value if isinstance(m, dict))
        elif key == "choices" and isinstance(value, list):
            value = "\n".join(f"{i}. {choice}" for i, choice in enumerate(value))
        rows.append((FIELD_LABELS.get(key, key.replace("_", " ").capitalize()), str(value)))
    return rows


def prompt_text(prompt) -> str:
    """A preference prompt as text: the string, or its turns as "role: content" paragraphs."""
    if isinstance(prompt, list):
        return "\n\n".join(f"{m.get('role', '?')}: {m.get('content', '')}" for m in prompt if isinstance(m, dict))
    return str(prompt)


def responses_shown(responses: list[str], order: list[int] | None = None) -> list[tuple[int, str]]:
    """(position from 1, text) in the order shown to the annotator; stored order when none is given."""
    order = range(len(responses)) if order is None else order
    return [(position, responses[index]) for position, index in enumerate(order, 1)]


def judgement_text(judgement) -> str:
    """A judgement for the lead, responses numbered from 1 as stored (1 is the partner's ``chosen``)."""
    kind = (judgement or {}).get("type")
    if kind == "best":
        return _("Best: response %(n)s") % {"n": judgement["best"] + 1}
    if kind == "ranking":
        return _("Ranking: %(order)s") % {"order": " > ".join(str(i + 1) for i in judgement["ranking"])}
    return {"tie": _("Tie"), "both_bad": _("Both bad")}.get(kind, "")


def percent(value):
    return None if value is None else round(100 * value)


def answer_details(annotation) -> list[str]:
    """What the lead reads beside an answer: reason, flags, ratings, the edit; the template escapes them."""
    from annotation.models.review import Flag

    labels = dict(Flag.choices)
    details = [annotation.reason] if annotation.reason else []
    if annotation.judgement:
        details.append(judgement_text(annotation.judgement))
        if annotation.judgement.get("written"):
            details.append(_("Wrote: %(text)s") % {"text": annotation.judgement["written"]})
    if annotation.flags:
        details.append(", ".join(str(labels.get(flag, flag)) for flag in annotation.flags))
    if annotation.ratings:
        details.append(" · ".join(f"{scale.replace('_', ' ')} {value}/5" for scale, value in annotation.ratings.items()))
    return details


def edit_diff(original, edited) -> list[tuple[str, str]]:
    """(label, word diff as safe HTML) for each field ``edited`` changes in ``original``."""
    before = dict(record_fields(original))
    return [(label, word_diff(before.get(label, ""), text)) for label, text in record_fields(edited)
            if before.get(label) != text]


def word_diff(old: str, new: str):
    """``old`` → ``new`` word by word: removed words in <del>, added ones in <ins>, every word escaped."""
    a, b = re.split(r"(\s+)", old), re.split(r"(\s+)", new)
    parts = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(escape("".join(a[i1:i2])))
        if op in ("delete", "replace"):
            parts.append(f"<del>{escape(''.join(a[i1:i2]))}</del>")
        if op in ("insert", "replace"):
            parts.append(f"<ins>{escape(''.join(b[j1:j2]))}</ins>")
    return mark_safe("".join(parts))  # every piece of text above is escaped
