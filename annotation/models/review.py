"""Review: queues per language and kind, certified annotators, leases, annotations, decisions.

A record's journey: a queue hands it out as an ``Assignment`` (a lease that
expires), the annotator answers with one ``Annotation``, and once the
queue's consensus rule is met a ``ReviewDecision`` says accepted, rejected
or disputed (the language lead then adjudicates). The record's content is
never overwritten: edits live on the annotation.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from occiportal.models import language_code_validator

from .submissions import Kind

# Distinct annotators per record unless the queue says otherwise: one look is
# enough to sample pretraining text; pairs and items people learn from get two.
DEFAULT_OVERLAP = {
    Kind.PRETRAINING: 1, Kind.INSTRUCTION: 2, Kind.CONVERSATION: 2, Kind.EVALUATION: 2, Kind.PREFERENCE: 2,
}
DEFAULT_RATING_SCALES = ["fluency", "correctness", "helpfulness"]
RATING_MIN, RATING_MAX = 1, 5


class Flag(models.TextChoices):
    WRONG_LANGUAGE = "wrong_language", _("Wrong language")
    PERSONAL_DATA = "personal_data", _("Personal data")
    TOXIC = "toxic", _("Toxic")
    MACHINE_TRANSLATED = "machine_translated", _("Machine-translated")
    COPYRIGHTED = "copyrighted", _("Copyrighted")
    UNSAFE = "unsafe", _("Unsafe")


class ReviewQueue(models.Model):
    """One language and one kind of record, optionally narrowed to some submissions or partners."""

    name = models.CharField(max_length=200)
    language = models.ForeignKey("occiportal.Language", on_delete=models.PROTECT, related_name="review_queues")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    submissions = models.ManyToManyField(
        "annotation.Submission", blank=True, related_name="review_queues",
        help_text=_("Only these submissions' records; none means all."),
    )
    partners = models.ManyToManyField(
        "occiportal.Partner", blank=True, related_name="review_queues",
        help_text=_("Only these partners' records; none means all."),
    )
    guidelines = models.TextField(blank=True, help_text=_("Markdown, shown beside every item."))
    overlap = models.PositiveSmallIntegerField(help_text=_("Distinct annotators per record."))
    consensus = models.PositiveSmallIntegerField(
        help_text=_("Votes that must agree, out of the overlap (k of N)."),
    )
    sample_rate = models.FloatField(
        default=1.0,
        validators=[MinValueValidator(0.0001), MaxValueValidator(1.0)],
        help_text=_("Share of each submission's records that is reviewed (pretraining documents)."),
    )
    sample_threshold = models.FloatField(
        default=0.8,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text=_("When a submission's sample is decided: accept the rest at or above this acceptance rate, else reject it."),
    )
    rating_scales = models.JSONField(
        default=list, blank=True, help_text=_('Names of the 1–5 scales, e.g. ["fluency", "correctness"].')
    )
    lease_minutes = models.PositiveSmallIntegerField(default=30, help_text=_("How long a handed-out item is held."))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The last push to Argilla an admin asked for (annotation/services/argilla_requests.py).
    argilla_push_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, editable=False, related_name="+",
        help_text=_("The admin who last asked for a push to Argilla; the queue's history gets the counts."),
    )
    argilla_push_unsent_since = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text=_("When a push to Argilla was asked for, until its message reached the broker; the sweeper sends it again."),
    )

    class Meta:
        ordering = ["language__name_en", "name"]
        indexes = [models.Index(fields=["language", "kind", "active"])]
        constraints = [
            models.CheckConstraint(condition=Q(overlap__gte=1), name="queue_overlap_positive"),
            models.CheckConstraint(
                condition=Q(consensus__gte=1) & Q(consensus__lte=F("overlap")), name="queue_consensus_within_overlap"
            ),
            models.CheckConstraint(
                condition=Q(sample_rate__gt=0) & Q(sample_rate__lte=1), name="queue_sample_rate_share"
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.language.code}, {self.kind})"


class Certification(models.Model):
    """A person may annotate one language (or one variant of it) until withdrawn."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="certifications")
    language_code = models.CharField(
        max_length=35, validators=[language_code_validator], help_text=_('"de", or a variant: "pt-BR", "es-419".')
    )
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    granted_at = models.DateTimeField(auto_now_add=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["language_code", "user_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "language_code"], condition=Q(withdrawn_at__isnull=True), name="unique_live_certification"
            )
        ]

    def __str__(self):
        return f"{self.user} certified for {self.language_code}"


class Assignment(models.Model):
    """A record handed to one annotator: a lease until answered, skipped or expired.

    An expired lease frees its slot for another annotator; the same person
    never gets the record again (``unique_record_annotator``).
    """

    class Status(models.TextChoices):
        LEASED = "leased", _("Leased")
        SUBMITTED = "submitted", _("Submitted")
        SKIPPED = "skipped", _("Skipped")

    queue = models.ForeignKey(ReviewQueue, on_delete=models.CASCADE, related_name="assignments")
    record = models.ForeignKey("annotation.Record", on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.LEASED)
    leased_until = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    shown_order = models.JSONField(
        null=True, blank=True,
        help_text=_("Preference items: the responses' indices in the order shown (against position bias)."),
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["record", "annotator"], name="unique_record_annotator"),
        ]
        indexes = [
            models.Index(fields=["record", "status", "leased_until"]),
            models.Index(fields=["queue", "annotator", "status"]),
        ]

    def __str__(self):
        return f"assignment {self.pk}: record {self.record_id} → {self.annotator}"


class Annotation(models.Model):
    """One annotator's answer to one assignment."""

    class Action(models.TextChoices):
        ACCEPT = "accept", _("Accept")
        REJECT = "reject", _("Reject")
        EDIT = "edit", _("Edit")
        FLAG = "flag", _("Flag")
        SKIP = "skip", _("Skip")
        JUDGE = "judge", _("Judge")

    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, related_name="annotation")
    queue = models.ForeignKey(ReviewQueue, on_delete=models.CASCADE, related_name="annotations")
    record = models.ForeignKey("annotation.Record", on_delete=models.CASCADE, related_name="annotations")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="annotations")
    action = models.CharField(max_length=16, choices=Action.choices)
    reason = models.TextField(blank=True)
    ratings = models.JSONField(default=dict, blank=True, help_text=_('{"fluency": 4, …} on the queue\'s scales.'))
    flags = models.JSONField(default=list, blank=True, help_text=_("Flag values (wrong_language, toxic, …)."))
    edited_content = models.JSONField(
        null=True, blank=True, help_text=_("The corrected record; the original stays on the record.")
    )
    edit_record = models.OneToOneField(
        "annotation.Record", on_delete=models.SET_NULL, null=True, blank=True, related_name="edit_source",
        help_text=_("The edit as a record of its own, credited to the annotator and reviewed like new content."),
    )
    judgement = models.JSONField(
        null=True, blank=True,
        help_text=_('Preference items: {"type": "best"|"ranking"|"tie"|"both_bad", …}, responses by their index.'),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["queue", "annotator"]), models.Index(fields=["record"])]
        constraints = [
            models.CheckConstraint(condition=~Q(action="reject") | ~Q(reason=""), name="annotation_reject_has_reason"),
            models.CheckConstraint(
                condition=~Q(action="edit") | Q(edited_content__isnull=False), name="annotation_edit_has_content"
            ),
        ]

    def __str__(self):
        return f"{self.annotator}: {self.action} record {self.record_id}"

    @property
    def vote(self):
        """accept, reject or None: what this answer counts as under the consensus rule."""
        return VOTES.get(self.action)


# An edit says the record is not right as it is: the corrected version enters
# review as a record of its own, so the original counts as rejected here. A
# flag names a reason not to keep it. A skip is no vote.
VOTES = {"accept": "accept", "edit": "reject", "reject": "reject", "flag": "reject"}


class ContributorPreference(models.Model):
    """How a person wants to appear: on the per-language contributors' leaderboard, or not."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="contributor_preference")
    on_leaderboard = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.user}: {'on' if self.on_leaderboard else 'off'} the leaderboard"


class ReviewDecision(models.Model):
    """What a queue decided about a record: by consensus, or by the language lead."""

    class Outcome(models.TextChoices):
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")
        DISPUTED = "disputed", _("Disputed: awaits the language lead")

    queue = models.ForeignKey(ReviewQueue, on_delete=models.CASCADE, related_name="decisions")
    record = models.ForeignKey("annotation.Record", on_delete=models.CASCADE, related_name="decisions")
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    votes = models.JSONField(default=dict, help_text=_('{"accept": 2, "reject": 1} when decided.'))
    adjudicated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.TextField(blank=True, help_text=_("The lead's reason, when adjudicated."))
    decided_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-decided_at"]
        constraints = [models.UniqueConstraint(fields=["queue", "record"], name="unique_queue_record_decision")]
        indexes = [models.Index(fields=["queue", "outcome"])]

    def __str__(self):
        return f"record {self.record_id}: {self.outcome}"
