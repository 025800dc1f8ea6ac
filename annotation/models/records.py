"""Records: one document, pair, conversation or evaluation item."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from .submissions import Kind


class Record(models.Model):
    """A checked, normalised, redacted unit of data.

    ``(submission, line)`` is the natural key that makes ingest idempotent;
    ``content_hash`` is unique across the portal, which is exact dedup.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Awaiting review")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    submission = models.ForeignKey("annotation.Submission", on_delete=models.CASCADE, related_name="records")
    line = models.BigIntegerField(help_text=_("Line of the record in the submission's stream (1-based)."))
    origin = models.CharField(max_length=300, blank=True, help_text=_("Archive member and line, for archives."))
    language = models.ForeignKey("occiportal.Language", on_delete=models.PROTECT, related_name="records")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    content = models.JSONField(help_text=_("The record as its kind's schema gives it: text, prompt/response, …"))
    external_id = models.CharField(max_length=200, blank=True)
    meta = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=32, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)

    detected_language = models.CharField(max_length=35, blank=True)
    language_score = models.FloatField(null=True, blank=True)
    language_mismatch = models.BooleanField(default=False)
    near_duplicate_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="near_duplicates"
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
    quality = models.JSONField(default=dict, blank=True, help_text=_("Quality signals (Gopher, C4, FineWeb)."))
    band_scheme = models.CharField(
        max_length=64, blank=True,
        help_text=_("The MinHash band scheme of the record's bands; empty for bands made before schemes were stored."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["submission", "line"]
        constraints = [models.UniqueConstraint(fields=["submission", "line"], name="unique_record_line")]
        indexes = [
            models.Index(fields=["language", "kind", "status"]),
            # Next-item walks a queue's pending records oldest first; without
            # it every claim steps over the records already decided.
            models.Index(fields=["language", "kind", "id"], condition=models.Q(status="pending"),
                         name="record_pending_queue_order"),
            # Edits are few: a partial index stays small and serves both the
            # snapshot's "every edit of a language" and "the edits of X".
            models.Index(fields=["edit_of"], condition=models.Q(edit_of__isnull=False), name="record_edit_of"),
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
    def shown_line(self) -> str:
        """``shown_at`` as one string: "two.jsonl:1", or "5"."""
        where = self.shown_at()
        return f"{where['file']}:{where['line']}" if where["file"] else str(where["line"])

