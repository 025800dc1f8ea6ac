"""Records: one document, pair, conversation or evaluation item."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from annotation.ingest.quality import FILTERED_SIGNALS

from .submissions import Kind


def quality_columns(signals: dict) -> dict:
    """Record's typed quality fields (``quality_<name>``) from a record's measured signals."""
    return {f"quality_{name}": signals.get(name) for name in FILTERED_SIGNALS}


class Record(models.Model):
    """A checked, normalised, redacted unit of data.

    ``(submission, line)`` is the natural key that makes ingest idempotent;
    ``content_hash`` is unique across the portal, which is exact dedup.

    A pretraining record's text and quality signals live in its ingest
    chunk's Parquet file (annotation.corpus.record_files); its ``content``
    is empty until review samples it (annotation.services.record_text). The
    row keeps what queues, snapshots, withdrawal and lineage filter on.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Awaiting review")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    # No index of their own for submission and language: the (submission, line)
    # constraint's and the (language, kind, status) index lead with them.
    submission = models.ForeignKey(
        "annotation.Submission", on_delete=models.CASCADE, related_name="records", db_index=False
    )
    line = models.BigIntegerField(help_text=_("Line of the record in the submission's stream (1-based)."))
    origin = models.CharField(max_length=300, blank=True, help_text=_("Archive member and line, for archives."))
    language = models.ForeignKey("occiportal.Language", on_delete=models.PROTECT, related_name="records", db_index=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    content = models.JSONField(
        help_text=_("The record as its kind's schema gives it: text, prompt/response, …; "
                    "empty for a pretraining record not drawn for review (its text is in the chunk's file).")
    )
    external_id = models.CharField(max_length=200, blank=True)
    meta = models.JSONField(default=dict, blank=True)
    content_hash = models.UUIDField(unique=True, help_text=_("128-bit hash of the normalised content."))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)

    detected_language = models.CharField(max_length=35, blank=True)
    language_score = models.FloatField(null=True, blank=True)
    language_mismatch = models.BooleanField(default=False)
    near_duplicate_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="near_duplicates", db_index=False
    )
    # PROTECT: an edit is its original's partner's material, corrected, and
    # snapshots credit it to the original's submission; with the link gone it
    # would stand beside its original, credited to the community partner. A
    # partner takes data back by withdrawal, which keeps the rows.
    edit_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="edits", db_index=False,
        help_text=_("The record this one corrects, for a reviewer's edit."),
    )
    pii_redactions = models.PositiveIntegerField(default=0)
    tokens = models.PositiveIntegerField(default=0)
    # The signals snapshots filter on (quality.FILTERED_SIGNALS); all of them are in the chunk's file.
    quality_words = models.IntegerField(null=True, blank=True)
    quality_mean_word_length = models.FloatField(null=True, blank=True)
    quality_symbol_word_ratio = models.FloatField(null=True, blank=True)
    quality_duplicate_line_fraction = models.FloatField(null=True, blank=True)
    quality_stop_words = models.IntegerField(null=True, blank=True)
    quality_digit_ratio = models.FloatField(null=True, blank=True)
    # {kind: count} of the personal data redacted in the texts, for the submission
    # page's list by kind; null (no bytes) for the many records that held none.
    redactions = models.JSONField(null=True, blank=True, help_text=_("Personal data redacted in the texts, by kind."))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["submission", "line"]
        constraints = [models.UniqueConstraint(fields=["submission", "line"], name="unique_record_line")]
        indexes = [
            models.Index(fields=["language", "kind", "status"]),
            # Next-item walks a queue's pending records oldest first; without
            # it every claim steps over the records already decided. Pretraining
            # records, nearly all of them, have an index without the kind: 32
            # bytes an entry instead of 50. The planner picks by the literal kind.
            models.Index(fields=["language", "id"], condition=models.Q(status="pending", kind=Kind.PRETRAINING),
                         name="record_pending_pretraining"),
            models.Index(fields=["language", "kind", "id"],
                         condition=models.Q(status="pending") & ~models.Q(kind=Kind.PRETRAINING),
                         name="record_pending_queue_order"),
            # Edits are few: a partial index stays small and serves both the
            # snapshot's "every edit of a language" and "the edits of X".
            models.Index(fields=["edit_of"], condition=models.Q(edit_of__isnull=False), name="record_edit_of"),
            # Partial for the same reason: most records are nobody's near-duplicate.
            models.Index(fields=["near_duplicate_of"], condition=models.Q(near_duplicate_of__isnull=False),
                         name="record_near_duplicate_of"),
            # Withdrawn records are few and looked up across languages (lineage, snapshot pages).
            models.Index(fields=["submission"], condition=models.Q(status="withdrawn"), name="record_withdrawn"),
        ]

    def __str__(self):
        return f"record {self.pk} (submission {self.submission_id}, line {self.line})"

    def shown_at(self) -> dict:
        """Where partners see the record: ``{"file": archive member or "", "line": n}``.

        "two.jsonl:1" for an archive's member, "5" for a row of a CSV (its own
        numbering); without an origin, the record's line in the submission's stream.
        """
        member, _sep, line = self.origin.rpartition(":")
        if line.isdigit():
            return {"file": member, "line": int(line)}
        return {"file": "", "line": self.line}

    @property
    def quality(self) -> dict:
        """The filtered quality signals that were measured, by name."""
        values = {name: getattr(self, f"quality_{name}") for name in FILTERED_SIGNALS}
        return {name: value for name, value in values.items() if value is not None}

    @property
    def shown_line(self) -> str:
        """``shown_at`` as one string: "two.jsonl:1", or "5"."""
        where = self.shown_at()
        return f"{where['file']}:{where['line']}" if where["file"] else str(where["line"])

