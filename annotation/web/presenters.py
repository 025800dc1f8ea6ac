"""Turn stored figures into what templates show: sums, chart rows, record previews.

Pure functions over already-fetched data: no queries here.
"""

from dataclasses import dataclass

from django.utils.formats import number_format
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from annotation.ingest.messages import stored_message
from annotation.ingest.quality import HISTOGRAM_BINS

PREVIEW_CHARS = 600


def grand_totals(totals):
    """Sum the per-language rows of ``selectors.totals_per_language``."""
    return {
        "languages": len(totals),
        "submissions": sum(row["submissions"] or 0 for row in totals),
        "records": sum(row["records"] or 0 for row in totals),
        "tokens": sum(row["tokens"] or 0 for row in totals),
    }


# Titles for the signals ingest histograms (annotation.ingest.quality.HISTOGRAM_BINS).
SIGNAL_TITLES = {
    "words": _("Words per record"),
    "mean_word_length": _("Mean word length (characters)"),
    "symbol_word_ratio": _("Symbols per word"),
    "duplicate_line_fraction": _("Share of duplicate lines"),
    "stop_words": _("Distinct stop words"),
    "digit_ratio": _("Share of digits"),
}


@dataclass
class Bar:
    label: str
    count: int
    percent: float  # of the largest bin, for the bar's width


@dataclass
class Chart:
    signal: str
    title: str
    total: int
    bars: list


def quality_charts(quality, bins=HISTOGRAM_BINS):
    """Histograms ``{signal: [count per bin]}`` as charts, bins labelled from ``bins``' edges."""
    charts = []
    order = list(SIGNAL_TITLES)
    for signal, counts in sorted((quality or {}).items(), key=lambda item: _signal_order(order, item[0])):
        if not isinstance(counts, list) or not counts or not all(isinstance(c, int) for c in counts):
            continue  # not a histogram this page knows how to draw
        labels = _bin_labels(bins.get(signal, []), len(counts))
        largest = max(counts) or 1
        bars = [Bar(label, count, round(100 * count / largest, 1)) for label, count in zip(labels, counts)]
        title = SIGNAL_TITLES.get(signal) or signal.replace("_", " ").capitalize()
        charts.append(Chart(signal, title, sum(counts), bars))
    return charts


def _signal_order(order, signal):
    return (order.index(signal), "") if signal in order else (len(order), signal)


def _bin_labels(edges, n):
    """``n`` counts over ``edges``: below the first edge, between edges, at or above the last."""
    if len(edges) + 1 != n:
        return [str(i) for i in range(1, n + 1)]
    edges = [number_format(int(edge) if float(edge).is_integer() else edge, force_grouping=True) for edge in edges]
    return [f"< {edges[0]}", *(f"{lo}–{hi}" for lo, hi in zip(edges, edges[1:])), f"≥ {edges[-1]}"]


# What ingest's rejection codes (ChunkStats.reject) mean to the person who uploaded.
REASON_LABELS = {
    "unreadable": _("Unreadable line (not valid JSON, CSV or text)"),
    "wrong_schema": _("Fields missing or wrong for this kind of data"),
    "empty": _("Nothing left after normalisation"),
    "exact_duplicate": _("Exact duplicate of a record already in the portal"),
    "check_failed": _("Could not be checked (internal error)"),
}


def rejection_rows(reasons):
    """``{reason: count}`` as (label, count) pairs, most frequent first."""
    rows = sorted((reasons or {}).items(), key=lambda item: (-item[1], item[0]))
    return [(REASON_LABELS.get(reason, reason), count) for reason, count in rows]


def message_text(stored, english=""):
    """A message ingest stored as ``{"template", "params"}``, in the reader's language.

    Without a template (stored before messages were translatable) the
    English ``english`` is shown. A translation whose placeholders do not
    fit the parameters falls back to English rather than break the page.
    """
    message = stored_message(stored, None)
    if message is None:
        return english
    try:
        return message.render(gettext)
    except (KeyError, ValueError, TypeError):
        return english


def problem_rows(errors):
    """The first bad lines ingest kept, each ``{"line", "file", "text"}`` with the text translated."""
    return [
        {"line": error.get("line"), "file": error.get("file", ""),
         "text": message_text(error, error.get("message", ""))}
        for error in errors or []
        if isinstance(error, dict)
    ]


def failure_text(submission):
    """Why the whole submission failed, in the reader's language when ingest kept the template."""
    return message_text(submission.failure_message, submission.failure)


def record_preview(content):
    """One readable string for any kind's record; templates escape it."""
    if not isinstance(content, dict):
        return str(content)
    if "text" in content:
        return str(content["text"])
    if "messages" in content:
        return "\n".join(f"{m.get('role', '?')}: {m.get('content', '')}" for m in content["messages"])
    if "question" in content:
        choices = "\n".join(f"{i}. {choice}" for i, choice in enumerate(content.get("choices", [])))
        return f"{content['question']}\n{choices}\n→ {content.get('answer')}"
    parts = [content.get("system"), content.get("prompt"), content.get("response")]
    if any(parts):
        return "\n→ ".join(str(part) for part in parts if part)
    return "\n".join(f"{key}: {value}" for key, value in content.items())


def record_rows(records):
    """Each record with its preview and where it came from: archive member and line, as problem lines show them."""
    return [
        {"record": record, "preview": Truncator(record_preview(record.content)).chars(PREVIEW_CHARS),
         **record.shown_at()}
        for record in records
    ]


def _stage(submission) -> str:
    # Past the last chunk the bar stands at 100 % while near-duplicates and totals are worked out.
    if submission.status == submission.Status.PROCESSING and submission.chunks_total and (
        submission.chunks_done >= submission.chunks_total
    ):
        return _("Finishing: near-duplicates and figures")
    return submission.get_status_display()


def status_payload(submission):
    """What the submission page polls: status, progress and the figures."""
    return {
        "id": submission.pk,
        "status": submission.status,
        "status_display": _stage(submission),
        "progress": submission.progress,
        "finished": submission.is_finished,
        "figures": submission.figures(),
    }


# The figures whose lines the submission page lists (annotation.figure_selectors.FIGURES).
FIGURE_TITLES = {
    "language_mismatches": _("Language mismatches"),
    "near_duplicates": _("Near duplicates"),
    "pii_redactions": _("Personal data redacted"),
    "low_quality": _("Low-quality outliers"),
    "records_rejected": _("Records rejected"),
    "exact_duplicates": _("Exact duplicates"),
}


# The kinds of personal data ingest redacts (annotation.ingest.pii.KINDS).
REDACTION_LABELS = {
    "email": _("E-mail addresses"),
    "phone": _("Phone numbers"),
    "iban": _("IBANs"),
    "ip_address": _("IP addresses"),
}


def line_rows(page, openable):
    """A figure's lines as the page shows them; ``openable``: submission ids the reader may open (linked)."""
    rows = []
    for row in page.rows:
        error = row.error or {}
        rows.append({
            "row": row,
            "signals": [SIGNAL_TITLES[signal] for signal in row.signals],
            "kinds": [(REDACTION_LABELS.get(kind, kind), count) for kind, count in sorted(row.redaction_kinds.items())],
            "reason": REASON_LABELS.get(error.get("reason"), "") if row.error else "",
            "problem": message_text(error, error.get("message", "")) if row.error else "",
            "linked": bool(row.duplicate_of) and row.duplicate_of["submission"] in openable,
        })  # fmt: skip
    return rows


def repeated_submission(submission):
    """The submission an all-duplicates upload repeats (its failure message names it), or None."""
    params = (submission.failure_message or {}).get("params") or {}
    return params.get("submission") if isinstance(params.get("submission"), int) else None
