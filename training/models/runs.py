"""Base models, training runs, evaluations and their results.

A run's row is the source of truth for a GPU job that may last days: its
status, attempt, lease and heartbeat decide whether the job is alive, not the
broker's redelivery. Jobs report through :class:`RunEvent` rows, idempotent
on ``(job, attempt, seq)``.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class BaseModel(models.Model):
    """A model to start from: a Hugging Face hub id or a local folder."""

    name = models.SlugField(max_length=100, unique=True)
    source = models.CharField(max_length=500, help_text=_("Hub id (org/name) or a local folder."))
    revision = models.CharField(max_length=100, blank=True, help_text=_("Hub revision (commit or tag) pinned for runs."))
    tokenizer = models.CharField(max_length=500, blank=True, help_text=_("Tokenizer folder; empty means the model's own."))
    is_tiny = models.BooleanField(default=False, help_text=_("A small local model for demos and tests."))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class EvaluationSuite(models.Model):
    """A folder of ``<lang>.jsonl`` files: multiple-choice items and perplexity texts."""

    class Provenance(models.TextChoices):
        NATIVE = "native", _("Written by native speakers")
        HUMAN_TRANSLATED = "human-translated", _("Translated by people")
        MACHINE_TRANSLATED = "machine-translated", _("Machine-translated")

    name = models.SlugField(max_length=100, unique=True)
    path = models.CharField(max_length=500, unique=True)
    provenance = models.CharField(max_length=24, choices=Provenance.choices, default=Provenance.NATIVE)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)


class GpuJob(models.Model):
    """What training and evaluation runs share: the job's life on a GPU worker."""

    Status = JobStatus

    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    attempt = models.PositiveSmallIntegerField(default=1, help_text=_("Events of older attempts are refused."))
    max_attempts = models.PositiveSmallIntegerField(default=3)
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text=_("Extended by every event; past it, the sweeper takes the job for dead.")
    )
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    unsent_since = models.DateTimeField(
        null=True, blank=True,
        help_text=_("When the current attempt was queued, until its message reached the broker; "
                    "the sweeper sends an attempt unsent for a few minutes again."),
    )  # fmt: skip
    log_tail = models.TextField(blank=True)
    failure = models.TextField(blank=True, help_text=_("Why the job failed, or why an attempt was retried."))
    output_dir = models.CharField(max_length=500, blank=True)
    manifest = models.JSONField(
        default=dict, blank=True, help_text=_("Job spec, snapshot sha256, base model and revision, seeds, versions.")
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_active(self):
        return self.status in ACTIVE


class TrainingRun(GpuJob):
    """Continual pre-training, instruction tuning or preference optimisation of a base model on a snapshot."""

    class Method(models.TextChoices):
        CPT = "cpt", _("Continual pre-training")
        SFT = "sft", _("Instruction tuning")
        DPO = "dpo", _("Preference optimisation (DPO)")

    class Finetuning(models.TextChoices):
        FULL = "full", _("Full fine-tuning")
        LORA = "lora", _("LoRA")

    snapshot = models.ForeignKey("training.Snapshot", on_delete=models.PROTECT, related_name="runs")
    base_model = models.ForeignKey(BaseModel, on_delete=models.PROTECT, related_name="runs")
    method = models.CharField(max_length=8, choices=Method.choices)
    finetuning = models.CharField(max_length=8, choices=Finetuning.choices, default=Finetuning.FULL)
    hyperparameters = models.JSONField(default=dict, blank=True, help_text=_("TrainConfig fields (training/jobs/contract.py)."))
    resources = models.JSONField(
        default=dict, blank=True, help_text=_("GPUs per node and nodes (Resources, training/jobs/contract.py); empty: one GPU.")
    )
    eval_suites = models.ManyToManyField(
        EvaluationSuite, blank=True, related_name="+", help_text=_("Evaluated on these once training succeeds.")
    )
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(null=True, blank=True)
    loss = models.FloatField(null=True, blank=True, help_text=_("Mean loss over the last progress window."))
    learning_rate = models.FloatField(null=True, blank=True)
    tokens_per_second = models.FloatField(null=True, blank=True)
    eta_seconds = models.FloatField(null=True, blank=True)
    progress_metrics = models.JSONField(
        default=dict, blank=True,
        help_text=_("The last progress window's figures beside the loss, by name: a DPO run's reward accuracy and "
                    "margins (REWARD_METRICS, training/jobs/contract.py)."),
    )  # fmt: skip
    checkpoint_path = models.CharField(max_length=500, blank=True, help_text=_("Latest checkpoint; final/ once done."))
    published = models.BooleanField(default=False, help_text=_("Visible to everyone and on the leaderboard."))
    withdrawn_override_reason = models.TextField(
        blank=True, help_text=_("Why staff trained on a snapshot holding withdrawn data; empty when it held none.")
    )
    withdrawn_override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        help_text=_("Who gave that reason; empty for the command line."),
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "lease_until"]), models.Index(fields=["published", "-created_at"])]

    def __str__(self):
        return f"run {self.pk}"

    @property
    def job_id(self):
        return f"run-{self.pk}"

    @property
    def progress_percent(self):
        return round(100 * self.step / self.total_steps) if self.total_steps else 0


class EvaluationRun(GpuJob):
    """A checkpoint or base model measured on suites, per language and task."""

    training_run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, null=True, blank=True, related_name="evaluations")
    base_model = models.ForeignKey(BaseModel, on_delete=models.PROTECT, null=True, blank=True, related_name="evaluations")
    model_path = models.CharField(max_length=500, help_text=_("What the job loads: a checkpoint folder or a hub id."))
    suites = models.ManyToManyField(EvaluationSuite, related_name="evaluations")
    max_items = models.PositiveIntegerField(null=True, blank=True, help_text=_("Per language and task; empty = all."))

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "lease_until"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(training_run__isnull=True) | Q(base_model__isnull=True), name="evaluation_of_one_model"
            )
        ]

    def __str__(self):
        return f"evaluation {self.pk}"

    @property
    def job_id(self):
        return f"eval-{self.pk}"


class RunEvent(models.Model):
    """One JSON-line event of a job, as the GPU worker forwarded it."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, null=True, blank=True, related_name="events")
    evaluation = models.ForeignKey(EvaluationRun, on_delete=models.CASCADE, null=True, blank=True, related_name="events")
    attempt = models.PositiveSmallIntegerField(default=1)
    seq = models.PositiveIntegerField(help_text=_("Position in the attempt's event stream: the idempotency key."))
    kind = models.CharField(max_length=32)
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["attempt", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["run", "attempt", "seq"], name="unique_run_event"),
            models.UniqueConstraint(fields=["evaluation", "attempt", "seq"], name="unique_evaluation_event"),
            models.CheckConstraint(
                condition=Q(run__isnull=False, evaluation__isnull=True) | Q(run__isnull=True, evaluation__isnull=False),
                name="run_event_has_one_job",
            ),
        ]

    def __str__(self):
        return f"{self.kind} #{self.seq}"


class EvaluationResult(models.Model):
    """One language and task of an evaluation, with lm-evaluation-harness's metrics."""

    evaluation = models.ForeignKey(EvaluationRun, on_delete=models.CASCADE, related_name="results")
    suite = models.ForeignKey(EvaluationSuite, on_delete=models.SET_NULL, null=True, blank=True, related_name="results")
    provenance = models.CharField(max_length=24, choices=EvaluationSuite.Provenance.choices)
    language = models.CharField(max_length=35)
    task = models.CharField(max_length=100)
    n = models.PositiveIntegerField(default=0, help_text=_("Items, pairs and documents scored together."))
    n_items = models.PositiveIntegerField(default=0, help_text=_("Multiple-choice items behind acc and acc_norm."))
    n_pairs = models.PositiveIntegerField(default=0, help_text=_("Preference pairs behind pref_acc."))
    n_docs = models.PositiveIntegerField(default=0, help_text=_("Documents behind the perplexities."))
    # Each metric of contract.METRICS with its standard error, as lm-evaluation-harness reports it.
    acc = models.FloatField(null=True, blank=True)
    acc_stderr = models.FloatField(null=True, blank=True)
    acc_norm = models.FloatField(null=True, blank=True)
    acc_norm_stderr = models.FloatField(null=True, blank=True)
    pref_acc = models.FloatField(
        null=True, blank=True, help_text=_("Share of preference pairs whose chosen answer the model finds likelier.")
    )
    pref_acc_stderr = models.FloatField(null=True, blank=True)
    word_perplexity = models.FloatField(null=True, blank=True)
    word_perplexity_stderr = models.FloatField(null=True, blank=True)
    byte_perplexity = models.FloatField(null=True, blank=True)
    byte_perplexity_stderr = models.FloatField(null=True, blank=True)
    bits_per_byte = models.FloatField(null=True, blank=True)
    bits_per_byte_stderr = models.FloatField(null=True, blank=True)
    item_scores = models.JSONField(
        default=dict, blank=True,
        help_text=_("Scores item by item (contract.ItemScores), for comparing two models on the same items."),
    )  # fmt: skip
    data_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["language", "task"]
        constraints = [models.UniqueConstraint(fields=["evaluation", "language", "task"], name="unique_evaluation_result")]
        indexes = [models.Index(fields=["language", "task"])]

    def __str__(self):
        return f"{self.task}/{self.language}"
