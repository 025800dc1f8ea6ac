"""Snapshots: curated, immutable, versioned selections of records, and withdrawals.

A snapshot's rows are not stored in the database: its Parquet shards carry
each row's ``record_id`` and ``submission_id``, and the database keeps one
lineage row per contributing submission. At 1,000,000 records that is a few
hundred rows per snapshot instead of a million.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from annotation import licenses


class Snapshot(models.Model):
    """``name@version``: parameters in, shards + card + manifest out.

    Only services move the status (draft → building → ready | failed); a
    ready snapshot is never rebuilt or changed, a new version is made. A
    draft is queued for building, and pages say so.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("Queued")
        BUILDING = "building", _("Building")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")

    class HubStatus(models.TextChoices):
        """The last push to the Hub (services/hub.py): none → queued → pushing → pushed | failed."""

        NONE = "none", _("Not pushed")
        QUEUED = "queued", _("Queued")
        PUSHING = "pushing", _("Pushing")
        PUSHED = "pushed", _("Pushed")
        FAILED = "failed", _("Push failed")

    name = models.SlugField(max_length=100)
    version = models.PositiveIntegerField()
    description = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    parameters = models.JSONField(
        default=dict, help_text=_("Languages, kinds, filters, mixture, upsampling, splits and seed; see training/snapshots/params.py.")
    )
    license = models.CharField(_("declared licence"), max_length=32, choices=licenses.CHOICES)
    license_override_reason = models.TextField(
        blank=True, help_text=_("Why staff build despite licence conflicts; empty means conflicts refuse the build.")
    )
    license_conflicts = models.JSONField(default=list, blank=True, help_text=_("Offending submissions found by the last check."))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    uri = models.CharField(max_length=500, blank=True, help_text=_("Where the shards are: a folder or an object-store URI."))
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    counts = models.JSONField(default=dict, blank=True, help_text=_('{lang: {split: {"records": n, "tokens": n}}}'))
    contamination = models.JSONField(default=dict, blank=True, help_text=_("Training records matching evaluation items."))
    fertility = models.JSONField(default=dict, blank=True, help_text=_("Tokens per word per language, when a tokenizer was given."))
    progress = models.PositiveSmallIntegerField(default=0, help_text=_("0–100 while building."))
    failure = models.TextField(blank=True)
    build_unsent_since = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text=_("When the build was queued, until its message reached the broker; the sweeper sends it again."),
    )

    # What it holds of data withdrawn since the build, counted from its shards
    # when a withdrawal reaches it (services/withdrawals.py); pages read these.
    withdrawn_records = models.BigIntegerField(default=0, editable=False)
    withdrawn_rows = models.BigIntegerField(default=0, editable=False, help_text=_("Upsampled repeats included."))
    withdrawn_tokens = models.BigIntegerField(default=0, editable=False)
    withdrawn_total_rows = models.BigIntegerField(
        default=0, editable=False, help_text=_("All rows of its shards when it holds withdrawn data: the base of the share.")
    )
    withdrawn_counted_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text=_("Empty: never counted; counted when first read.")
    )

    # The last push to a private Hugging Face Hub dataset repository, run by the worker.
    hub_status = models.CharField(max_length=16, choices=HubStatus.choices, default=HubStatus.NONE)
    hub_repo = models.CharField(max_length=200, blank=True, help_text=_("The Hub dataset repository asked for: organisation/name."))
    hub_requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                         related_name="+")
    hub_requested_at = models.DateTimeField(null=True, blank=True)
    hub_started_at = models.DateTimeField(null=True, blank=True, help_text=_("When the worker began uploading."))
    hub_pushed_at = models.DateTimeField(null=True, blank=True)
    hub_commit = models.CharField(max_length=64, blank=True, help_text=_("The Hub commit of this version, tagged v<version>."))
    hub_url = models.CharField(max_length=500, blank=True, help_text=_("The repository's URL, as the Hub gave it."))
    hub_error = models.TextField(blank=True, help_text=_("Why the last push failed: the file, and what the Hub answered."))
    hub_unsent_since = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text=_("When the push was queued, until its message reached the broker; the sweeper sends it again."),
    )

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="unique_snapshot_version"),
            models.CheckConstraint(condition=~models.Q(hub_status="pushed") | ~models.Q(hub_commit=""),
                                   name="snapshot_pushed_has_commit"),
        ]
        # Every ready snapshot, for training hosts and service accounts; one
        # snapshot for one person is a SnapshotAccess grant.
        permissions = [("download_snapshot", "Can download the files of every ready snapshot")]

    def __str__(self):
        return self.label

    @property
    def label(self):
        return f"{self.name}@{self.version}"

    @property
    def is_finished(self):
        return self.status in (self.Status.READY, self.Status.FAILED)

    @property
    def hub_tag(self):
        return f"v{self.version}"

    @property
    def hub_commit_url(self):
        return f"{self.hub_url}/commit/{self.hub_commit}" if self.hub_url and self.hub_commit else ""

    def totals(self):
        """Records and tokens over all languages and splits."""
        records = sum(c["records"] for splits in self.counts.values() for c in splits.values())
        tokens = sum(c["tokens"] for splits in self.counts.values() for c in splits.values())
        return {"records": records, "tokens": tokens}


class SnapshotSubmission(models.Model):
    """Lineage: what one submission contributed to one snapshot."""

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="lineage")
    submission = models.ForeignKey("annotation.Submission", on_delete=models.PROTECT, related_name="snapshot_rows")
    partner = models.ForeignKey("occiportal.Partner", on_delete=models.PROTECT, related_name="snapshot_rows")
    language = models.CharField(max_length=35)
    license = models.CharField(max_length=32)
    records = models.BigIntegerField(default=0, help_text=_("Rows written, repeats from upsampling included."))
    tokens = models.BigIntegerField(default=0)
    splits = models.JSONField(default=dict, blank=True, help_text=_('{split: rows}'))

    class Meta:
        ordering = ["snapshot", "submission"]
        constraints = [models.UniqueConstraint(fields=["snapshot", "submission"], name="unique_snapshot_submission")]
        indexes = [models.Index(fields=["submission"]), models.Index(fields=["partner"])]


class SnapshotAccess(models.Model):
    """Staff let one person download one snapshot's files (shards included).

    Per snapshot, not per name: each version has its own partners and
    licence, so a grant is given knowing what it contains.
    """

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="snapshot_grants")
    reason = models.TextField(help_text=_("What the data is for, and which licence terms the person accepted."))
    expires_at = models.DateTimeField(null=True, blank=True, help_text=_("Empty: until revoked."))
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["snapshot", "user"]
        verbose_name, verbose_name_plural = _("download grant"), _("download grants")
        constraints = [models.UniqueConstraint(fields=["snapshot", "user"], name="unique_snapshot_access")]

    def __str__(self):
        return f"{self.user} may download {self.snapshot}"


class Withdrawal(models.Model):
    """A partner takes back a submission or one record.

    The records become ``withdrawn``: no later snapshot takes them. Ready
    snapshots are immutable, so the ones holding the data are listed for
    staff to act on (rebuild, retire, tell the training runs).
    """

    partner = models.ForeignKey("occiportal.Partner", on_delete=models.PROTECT, related_name="withdrawals")
    submission = models.ForeignKey("annotation.Submission", on_delete=models.PROTECT, related_name="withdrawals")
    record = models.ForeignKey(
        "annotation.Record", on_delete=models.PROTECT, null=True, blank=True, related_name="withdrawals",
        help_text=_("Empty when the whole submission is withdrawn."),
    )
    reason = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    records_withdrawn = models.BigIntegerField(default=0)
    snapshots = models.ManyToManyField(
        Snapshot, blank=True, editable=False, related_name="+",
        help_text=_("The ready snapshots found holding the withdrawn data when it was withdrawn."),
    )
    # The follow-up runs in a worker after the commit (services/withdrawals.py):
    # the text leaves the chunk files, then the snapshots holding the data are
    # found and counted. Each step marks its time; empty means still to do.
    snapshots_found_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text=_("When the snapshots holding it were found and counted; empty: counting is pending."),
    )
    text_pruned_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text=_("When its text left the chunk files; empty: the removal is pending."),
    )
    follow_up_asked_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text=_("When the text removal and counting were last queued; the sweeper queues them again if unfinished."),
    )
    follow_up_unsent_since = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text=_("When the follow-up was queued, until its message reached the broker; the sweeper sends it again."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True, help_text=_("When staff dealt with the snapshots holding it."))

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["partner", "-created_at"])]

    def __str__(self):
        what = f"record {self.record_id}" if self.record_id else f"submission {self.submission_id}"
        return f"withdrawal of {what} by {self.partner}"
