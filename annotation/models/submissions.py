"""Submissions: one uploaded file, its provenance, and what ingest found."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from annotation import licenses


class Kind(models.TextChoices):
    """The labels of annotation.ingest.schemas.KINDS, the one list of kinds (a test holds them equal)."""

    PRETRAINING = "pretraining", _("Pretraining documents")
    INSTRUCTION = "instruction", _("Instruction pairs")
    CONVERSATION = "conversation", _("Conversations")
    EVALUATION = "evaluation", _("Evaluation items")
    PREFERENCE = "preference", _("Preference pairs and rankings")


def upload_path(submission, filename):
    return f"uploads/{submission.partner.slug}/{submission.uuid}/{filename}"


def current_band_scheme() -> str:
    """The MinHash band scheme ingest bands records in now (a new submission's ``band_scheme``)."""
    from annotation.ingest.minhash import BAND_SCHEME  # rensa and numpy load only when a row is made

    return BAND_SCHEME


class Submission(models.Model):
    """An upload, from received through processing to ready or failed.

    Only ingest services move the status; figures are filled in by the
    finalising step from its chunks, so a re-run gives the same numbers.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        PROCESSING = "processing", _("Processing")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")

    class OriginalDeleted(models.TextChoices):
        """Why the uploaded file was deleted (annotation.services.originals)."""

        INGESTED = "ingested", _("its records are stored, redacted")
        RETENTION = "retention", _("the time it was kept after the failure ran out")
        WITHDRAWN = "withdrawn", _("the submission was withdrawn")

    uuid = models.UUIDField(unique=True, editable=False)
    partner = models.ForeignKey("occiportal.Partner", on_delete=models.PROTECT, related_name="submissions")
    uploader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="submissions"
    )
    language = models.ForeignKey("occiportal.Language", on_delete=models.PROTECT, related_name="submissions")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    license = models.CharField(_("licence"), max_length=32, choices=licenses.CHOICES)
    source = models.TextField(_("source and provenance"), help_text=_("Where the data comes from and how it was made."))
    consent = models.BooleanField(
        default=False,
        help_text=_("The uploader confirmed the partner may give this data under this licence."),
    )
    file = models.FileField(upload_to=upload_path, max_length=500)
    original_name = models.CharField(max_length=255)
    size_bytes = models.BigIntegerField(default=0)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED, db_index=True)
    failure = models.TextField(blank=True, help_text=_("Why the whole submission failed, if it did."))
    failure_message = models.JSONField(
        default=dict, blank=True,
        help_text=_('The failure as ingest phrased it, for translation: {"template": …, "params": …}.'),
    )
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)

    records_read = models.BigIntegerField(default=0)
    records_accepted = models.BigIntegerField(default=0)
    records_rejected = models.BigIntegerField(default=0)
    exact_duplicates = models.BigIntegerField(default=0)
    near_duplicates = models.BigIntegerField(default=0)
    language_mismatches = models.BigIntegerField(default=0)
    pii_redactions = models.BigIntegerField(default=0)
    tokens = models.BigIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text=_('The first bad lines: [{"line": N, "message": …}].'))
    rejection_reasons = models.JSONField(default=dict, blank=True)
    quality = models.JSONField(default=dict, blank=True, help_text=_("Histograms of quality signals."))
    # One name per submission, not per record (29 bytes a row): its records
    # are banded under one scheme, and records_reband re-bands them together.
    band_scheme = models.CharField(
        max_length=64, blank=True, default=current_band_scheme,
        help_text=_("The MinHash band scheme of all the records' bands; empty where they are not all of one."),
    )

    # What the partner took back (training.services.withdrawals keeps these,
    # under this row's lock). The figures above describe the upload and stay;
    # totals subtract these, and leave a wholly withdrawn submission out.
    withdrawn_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When the whole submission was withdrawn.")
    )
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        help_text=_("Who withdrew the whole submission."),
    )
    withdrawn_records = models.BigIntegerField(
        default=0, help_text=_("Records withdrawn, one by one or with the whole submission.")
    )
    withdrawn_tokens = models.BigIntegerField(default=0, help_text=_("Tokens of the withdrawn records."))

    # The upload holds personal data that ingest redacts; the file does not
    # outlive its use (annotation.services.originals).
    original_deleted_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When the uploaded file was deleted; empty while it is kept.")
    )
    original_deleted_reason = models.CharField(
        max_length=16, choices=OriginalDeleted.choices, blank=True, help_text=_("Why the uploaded file was deleted.")
    )

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["partner", "-created_at"]), models.Index(fields=["language", "status"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(original_deleted_at__isnull=True, original_deleted_reason="")
                | (models.Q(original_deleted_at__isnull=False) & ~models.Q(original_deleted_reason="")),
                name="original_deleted_says_why",
            )
        ]

    def __str__(self):
        return f"#{self.pk} {self.original_name} ({self.partner}, {self.language.code})"

    @property
    def is_finished(self):
        return self.status in (self.Status.READY, self.Status.FAILED)

    @property
    def is_withdrawn(self):
        """The whole submission was withdrawn (single records may be, without it)."""
        return self.withdrawn_at is not None

    @property
    def progress(self):
        """0–100 for a progress bar."""
        if self.is_finished:
            return 100
        if not self.chunks_total:
            return 0
        return int(100 * self.chunks_done / self.chunks_total)

    def figures(self):
        return {
            "submission": self.pk,
            "status": self.status,
            "records_read": self.records_read,
            "records_accepted": self.records_accepted,
            "records_rejected": self.records_rejected,
            "exact_duplicates": self.exact_duplicates,
            "near_duplicates": self.near_duplicates,
            "language_mismatches": self.language_mismatches,
            "pii_redactions": self.pii_redactions,
            "tokens": self.tokens,
            "rejection_reasons": self.rejection_reasons,
            "errors": self.errors,
            "failure": self.failure,
            "progress": self.progress,
        }


class IngestChunk(models.Model):
    """A byte range of a submission's (possibly spooled) JSONL stream.

    Chunks are processed independently by workers; ``stats`` holds what the
    chunk's records contributed, so finalising adds them up. A worker claims
    a chunk (a lease) and beats per committed batch; the ingest sweeper sends
    a chunk that went quiet again, and fails the submission after too many
    claims (services/ingest_sweep.py).
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DONE = "done", _("Done")

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    path = models.CharField(max_length=500, help_text=_("Storage name of the stream this chunk reads."))
    spooled = models.BooleanField(
        default=False, help_text=_("The stream is the portal's spool of parsed items, not the upload itself.")
    )
    start = models.BigIntegerField()
    end = models.BigIntegerField()
    first_line = models.BigIntegerField(help_text=_("Line number of the chunk's first line in its stream."))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    stats = models.JSONField(default=dict, blank=True)
    claimed_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When a worker took the chunk; empty while none holds it.")
    )
    heartbeat_at = models.DateTimeField(
        default=timezone.now,
        help_text=_("Last sign of life: planned, sent again, claimed, or a batch of its records committed."),
    )
    attempts = models.PositiveSmallIntegerField(default=0, help_text=_("How many times a worker claimed the chunk."))
    records_file = models.CharField(
        max_length=200, blank=True,
        help_text=_("Storage name of the current Parquet file of the chunk's pretraining records."),
    )

    class Meta:
        ordering = ["submission", "index"]
        constraints = [models.UniqueConstraint(fields=["submission", "index"], name="unique_chunk_index")]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]
