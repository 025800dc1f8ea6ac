"""The lines behind a submission's figures: which records, or rejected lines, each figure counts.

Records are walked in line order from a cursor (the last line shown) through
the ``(submission, line)`` unique index, so a page costs one query however far
into a million-record submission it lies. No record text is read: a row
shows where the line is and why it is listed.
"""

from dataclasses import dataclass, field

from django.db.models import Q

from .ingest.pii import KINDS as REDACTION_KINDS
from .ingest.quality import HISTOGRAM_BINS
from .models import Record, Submission
from .selectors import submissions_visible_to

LINES_PER_PAGE = 50

# The outer bars of the submission page's quality charts that hold poor
# records: (below the first edge, at or above the last). Few symbols or
# digits are no fault, so those signals count at the top end only.
OUTLIER_ENDS = {
    "words": (True, True),
    "mean_word_length": (True, True),
    "symbol_word_ratio": (False, True),
    "duplicate_line_fraction": (False, True),
    "stop_words": (True, False),
    "digit_ratio": (False, True),
}

# Figures counted on stored records, each with the records it counts.
RECORD_FIGURES = {
    "language_mismatches": Q(language_mismatch=True),
    "near_duplicates": Q(near_duplicate_of__isnull=False),
    "pii_redactions": Q(pii_redactions__gt=0),
    "low_quality": Q(),  # filled in below, from OUTLIER_ENDS
}
# Figures counted on rejected lines (ingest keeps the first ones), with the reason they keep; None: any.
REJECTED_FIGURES = {"records_rejected": None, "exact_duplicates": "exact_duplicate"}
FIGURES = (*RECORD_FIGURES, *REJECTED_FIGURES)


def _outliers() -> Q:
    outliers = Q()
    for signal, (low, high) in OUTLIER_ENDS.items():
        edges = HISTOGRAM_BINS[signal]
        if low:  # ">= 0" as a guard: a signal not measured (no stop-word list for the language) is null
            outliers |= Q(**{f"quality_{signal}__lt": edges[0], f"quality_{signal}__gte": 0})
        if high:
            outliers |= Q(**{f"quality_{signal}__gte": edges[-1]})
    return outliers


RECORD_FIGURES["low_quality"] = _outliers()


def outlier_signals(quality: dict) -> list[str]:
    """The signals of ``quality`` that fall in an outlier bar, in OUTLIER_ENDS' order."""
    found = []
    for signal, (low, high) in OUTLIER_ENDS.items():
        value, edges = (quality or {}).get(signal), HISTOGRAM_BINS[signal]
        if isinstance(value, (int, float)) and ((low and 0 <= value < edges[0]) or (high and value >= edges[-1])):
            found.append(signal)
    return found


@dataclass
class LineRow:
    """One line behind a figure: a stored record, or a rejected line (``record`` False)."""

    line: str  # as the page shows it: "7", or "docs/a.jsonl:7"
    record: bool
    withdrawn: bool = False
    detected_language: str = ""
    redactions: int = 0
    # {kind: count}; empty for records checked before kinds were counted
    redaction_kinds: dict = field(default_factory=dict)
    signals: list = field(default_factory=list)
    duplicate_of: dict | None = None  # {"line", "submission"}: the line it repeats, and that line's submission
    error: dict | None = None  # a rejected line as ingest kept it: {"line", "reason", "message", …}


@dataclass
class LinesPage:
    figure: str
    rows: list
    after: int  # the cursor this page started from
    next_after: int | None  # the cursor of the next page; None on the last one
    redaction: str = ""  # the kind of personal data the lines were chosen by; "" for all

    def query(self, after: int | None) -> str:
        """The query string of this list from cursor ``after`` (None: from the start)."""
        query = f"figure={self.figure}" + (f"&redaction={self.redaction}" if self.redaction else "")
        return query + (f"&after={after}" if after else "")


def submission_lines(
    submission: Submission, *, figure: str, after: int = 0, limit: int = LINES_PER_PAGE, redaction: str = ""
) -> LinesPage:
    """The lines behind ``figure`` (one of FIGURES) from cursor ``after`` on, at most ``limit``.

    For records the cursor is the last record line shown; for rejected lines
    (of which ingest keeps the first ``MAX_ERRORS_KEPT``) it is a position in
    that list. With "pii_redactions", ``redaction`` (one of REDACTION_KINDS)
    keeps the records with that kind of personal data (ingest counts kinds
    since this list came; older records have the total only). The caller has
    checked that the user may see the submission.
    """
    if figure in REJECTED_FIGURES:
        return _rejected_lines(submission, figure, after, limit)
    chosen = RECORD_FIGURES[figure]
    redaction = redaction if figure == "pii_redactions" and redaction in REDACTION_KINDS else ""
    if redaction:
        chosen &= Q(**{f"redactions__{redaction}__gt": 0})
    records = list(
        Record.objects.filter(chosen, submission=submission, line__gt=after)
        .select_related("near_duplicate_of")
        .only("line", "origin", "status", "language_mismatch", "detected_language", "pii_redactions", "redactions",
              *(f"quality_{signal}" for signal in OUTLIER_ENDS),
              "near_duplicate_of__line", "near_duplicate_of__origin", "near_duplicate_of__submission_id")
        .order_by("line")[: limit + 1]
    )  # fmt: skip
    more = len(records) > limit
    records = records[:limit]
    rows = [_record_row(record) for record in records]
    return LinesPage(figure, rows, after, records[-1].line if more else None, redaction)


def _record_row(record: Record) -> LineRow:
    other = record.near_duplicate_of
    return LineRow(
        line=record.shown_line, record=True, withdrawn=record.status == Record.Status.WITHDRAWN,
        detected_language=record.detected_language if record.language_mismatch else "",
        redactions=record.pii_redactions, redaction_kinds=record.redactions or {},
        signals=outlier_signals(record.quality),
        duplicate_of={"line": other.shown_line, "submission": other.submission_id} if other else None,
    )  # fmt: skip


def _rejected_lines(submission: Submission, figure: str, after: int, limit: int) -> LinesPage:
    reason = REJECTED_FIGURES[figure]
    kept = [error for error in submission.errors or [] if isinstance(error, dict)]
    chosen = [(i, error) for i, error in enumerate(kept, start=1) if reason is None or error.get("reason") == reason]
    chosen = [(i, error) for i, error in chosen if i > after]
    rows = [_rejected_row(error) for _i, error in chosen[:limit]]
    return LinesPage(figure, rows, after, chosen[limit - 1][0] if len(chosen) > limit else None)


def _rejected_row(error: dict) -> LineRow:
    line = f"{error['file']}:{error.get('line')}" if error.get("file") else str(error.get("line") or "—")
    params, duplicate_of = error.get("params") or {}, None
    if error.get("reason") == "exact_duplicate" and "submission" in params:
        duplicate_of = {"line": params.get("line"), "submission": params["submission"]}
    return LineRow(line=line, record=False, duplicate_of=duplicate_of, error=error)


def submissions_openable(user, submission_ids) -> set[int]:
    """Which of ``submission_ids`` ``user`` may open (a page links those, and only names the others by number)."""
    ids = {pk for pk in submission_ids if pk}
    return set(submissions_visible_to(user).filter(pk__in=ids).values_list("pk", flat=True)) if ids else set()
