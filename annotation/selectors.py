"""Reads: what a user may see, and the figures pages show."""

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import BigIntegerField, Count, F, Q, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils.translation import gettext as _

from occiportal.models import Language, Partner

from .models import Record, Submission
from .services.writing import COMMUNITY, WRITING_NAME
from .text_selectors import records_text_read


def partners_of(user):
    if not user.is_authenticated:
        return Partner.objects.none()
    if user.is_staff:
        return Partner.objects.all()
    return Partner.objects.filter(memberships__user=user)


def submissions_visible_to(user):
    """A partner's submissions are visible to its members and to staff only."""
    qs = Submission.objects.select_related("partner", "language", "uploader", "withdrawn_by")
    if not user.is_authenticated:
        return qs.none()
    if user.is_staff:
        return qs
    return qs.filter(partner__memberships__user=user)


# Over Submission rows, never records: what ingest accepted, less what the
# partner withdrew since (the withdrawal service keeps those counters).
_TOTALS = {
    "submissions": Count("id"),
    "records": Sum(F("records_accepted") - F("withdrawn_records")),
    "tokens": Sum(F("tokens") - F("withdrawn_tokens")),
    "rejected": Sum("records_rejected"),
}


def totals_per_language(submissions):
    """Per language: submissions, accepted records, tokens — ready ones only, withdrawn data left out."""
    rows = (
        submissions.filter(status=Submission.Status.READY, withdrawn_at__isnull=True)
        .values("language__code", "language__name_en", "language__name_native")
        .annotate(**_TOTALS)
        .order_by("language__name_en")
    )
    return list(rows)


def public_language_totals():
    """Totals per language across all partners, for the public page."""
    return totals_per_language(Submission.objects.all())


def languages_for_select():
    return Language.objects.all()


def records_sample(submission, limit=20):
    """The first records of a submission, in file order, with their content, for its page."""
    records = list(submission.records.order_by("line")[:limit])
    contents = records_text_read(records)
    for record in records:
        record.content = contents.get(record.pk, {})
    return records


def records_at_lines(submission: Submission, lines: list) -> list[Record]:
    """The records at ``lines`` as the submission's page shows them ("7", or "docs/a.jsonl:7" in an archive).

    In the order given, each once. Raises ``ValidationError`` naming the first
    line that holds no record of the submission (a rejected line holds none).
    """
    wanted = list(dict.fromkeys(_line_key(line) for line in lines))
    plain = [int(key) for key in wanted if key.isdigit()]
    found = Record.objects.filter(submission=submission).filter(Q(origin__in=wanted) | Q(origin="", line__in=plain))
    by_line = {record.shown_line: record for record in found}
    missing = next((key for key in wanted if key not in by_line), None)
    if missing is not None:
        raise ValidationError(_("Line %(line)s holds no record of this submission.") % {"line": missing}, code="line")
    return [by_line[key] for key in wanted]


def _line_key(line) -> str:
    """"docs/a.jsonl: 7" (as pages show it) → "docs/a.jsonl:7"; 7 → "7"."""
    member, _sep, number = str(line).rpartition(":")
    return f"{member.strip()}:{number.strip()}" if member.strip() else number.strip()

def original_kept_until(submission) -> datetime | None:
    """When a failed submission's uploaded file is deleted (originals_expire); None unless one is kept so."""
    if submission.original_deleted_at or submission.status != Submission.Status.FAILED or not submission.finished_at:
        return None
    return submission.finished_at + timedelta(days=settings.INGEST["ORIGINAL_RETENTION_DAYS"])


def written_pairs():
    """Preference records written in review, each annotated with ``source``: the id of the record written for.

    Only records of writing submissions count: ``meta`` on an upload is the partner's word.
    """
    return Record.objects.filter(
        kind="preference", meta__has_key="source_record",
        submission__original_name=WRITING_NAME, submission__partner__slug=COMMUNITY["slug"],
    ).annotate(source=Cast(KeyTextTransform("source_record", "meta"), BigIntegerField()))
