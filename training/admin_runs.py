"""Admin for base models, suites, training and evaluation runs.

Runs are started, cancelled and published through their services, so the
admin's add form dispatches the job and its actions keep the state machine.
"""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from .jobs.contract import METRICS
from .models import BaseModel, EvaluationResult, EvaluationRun, EvaluationSuite, RunEvent, TrainingRun
from .services.runs import job_cancel, training_run_create, training_run_publish

JOB_STATE = ("status", "attempt", "lease_until", "heartbeat_at", "started_at", "finished_at", "failure",
             "log_tail", "output_dir", "manifest", "created_by")  # fmt: skip


@admin.register(BaseModel)
class BaseModelAdmin(admin.ModelAdmin):
    list_display = ("name", "source", "revision", "is_tiny", "created_at")


@admin.register(EvaluationSuite)
class EvaluationSuiteAdmin(admin.ModelAdmin):
    list_display = ("name", "provenance", "path")
    list_filter = ("provenance",)


@admin.action(description="Cancel the selected runs")
def cancel_runs(modeladmin, request, queryset):
    cancelled = sum(job_cancel(user=request.user, job=job) for job in queryset)
    modeladmin.message_user(request, f"{cancelled} cancelled.")


@admin.action(description="Publish the selected runs")
def publish_runs(modeladmin, request, queryset):
    for run in queryset:
        try:
            training_run_publish(user=request.user, run=run)
        except ValidationError as error:
            modeladmin.message_user(request, f"{run}: {'; '.join(error.messages)}", messages.ERROR)


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ("__str__", "status", "snapshot", "base_model", "method", "finetuning", "step", "loss", "published")
    list_filter = ("status", "method", "finetuning", "published")
    actions = [cancel_runs, publish_runs]
    readonly_fields = JOB_STATE + ("step", "total_steps", "loss", "learning_rate", "tokens_per_second",
                                   "eta_seconds", "checkpoint_path", "published", "withdrawn_override_by")  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        # Adding a run is the trigger: choose what to train; afterwards it is the job's record.
        return self.readonly_fields if obj is None else self.readonly_fields + (
            "snapshot", "base_model", "method", "finetuning", "hyperparameters", "eval_suites", "max_attempts",
            "withdrawn_override_reason")

    def save_model(self, request, obj, form, change):
        if change:
            return
        run = training_run_create(
            created_by=request.user, snapshot=obj.snapshot, base_model=obj.base_model, method=obj.method,
            finetuning=obj.finetuning, hyperparameters=obj.hyperparameters,
            eval_suites=form.cleaned_data.get("eval_suites") or (), max_attempts=obj.max_attempts,
            withdrawn_reason=obj.withdrawn_override_reason,
        )  # fmt: skip
        obj.pk = run.pk

    def save_related(self, request, form, formsets, change):
        pass  # the service set everything


class ResultInline(admin.TabularInline):
    model = EvaluationResult
    extra = 0
    can_delete = False
    readonly_fields = ("language", "task", "suite", "provenance", "n", *METRICS)
    fields = readonly_fields


@admin.register(EvaluationRun)
class EvaluationRunAdmin(admin.ModelAdmin):
    list_display = ("__str__", "status", "model_path", "training_run", "base_model", "created_at")
    list_filter = ("status",)
    actions = [cancel_runs]
    readonly_fields = JOB_STATE + ("training_run", "base_model", "model_path", "suites", "max_items")
    inlines = [ResultInline]

    def has_add_permission(self, request):
        return False  # started by `manage.py evaluate` or after training


@admin.register(RunEvent)
class RunEventAdmin(admin.ModelAdmin):
    list_display = ("__str__", "run", "evaluation", "attempt", "seq", "kind", "received_at")
    list_filter = ("kind",)
    readonly_fields = ("run", "evaluation", "attempt", "seq", "kind", "payload", "received_at")

    def has_add_permission(self, request):
        return False
