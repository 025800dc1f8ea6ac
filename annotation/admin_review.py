"""Admin for review: queues and certifications are edited here; answers and decisions are read.

Assignments, answers and decisions are written by the review services only,
so they are view-only; staff adjudicate disputed records with an action that
calls ``review_adjudicate`` (which also moves the record's status).
"""

from django.conf import settings
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import Annotation, Assignment, Certification, ReviewDecision, ReviewQueue
from .services.argilla_requests import argilla_pull_request, argilla_push_request
from .services.review import review_adjudicate


class ViewOnly(admin.ModelAdmin):
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ReviewQueue)
class ReviewQueueAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "language", "kind", "overlap", "consensus", "sample_rate", "active"]
    list_filter = ["active", "kind", "language"]
    list_select_related = ["language"]
    search_fields = ["=id", "name"]
    raw_id_fields = ["language", "submissions", "created_by"]
    filter_horizontal = ["partners"]
    actions = ["argilla_push", "argilla_pull"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description=_("Push to Argilla"))
    def argilla_push(self, request, queryset):
        if self._argilla_configured(request):
            count = argilla_push_request(queue_ids=list(queryset.values_list("pk", flat=True)), requested_by=request.user)
            self._argilla_queued(request, _("A push of %(n)d queue(s) to Argilla is queued.") % {"n": count})

    @admin.action(description=_("Pull answers from Argilla"))
    def argilla_pull(self, request, queryset):
        if self._argilla_configured(request):
            argilla_pull_request(queue_ids=list(queryset.values_list("pk", flat=True)), requested_by=request.user)
            self._argilla_queued(request, _("Pulling answers of %(n)d queue(s) from Argilla.") % {"n": queryset.count()})

    def _argilla_configured(self, request) -> bool:
        if not settings.ARGILLA_API_URL:
            self.message_user(request, _("Argilla is not configured (ARGILLA_API_URL)."), messages.ERROR)
        return bool(settings.ARGILLA_API_URL)

    def _argilla_queued(self, request, message):
        self.message_user(request, message)
        # The work runs in the background; its counts land in the queue's history.
        self.message_user(request, _("Each queue's history will show what was pushed, pulled, skipped and removed."))


@admin.register(Certification)
class CertificationAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "language_code", "granted_by", "granted_at", "withdrawn_at"]
    list_filter = ["language_code"]
    list_select_related = ["user", "granted_by"]
    search_fields = ["=id", "user__username", "language_code"]
    raw_id_fields = ["user"]
    readonly_fields = ["granted_by", "granted_at", "withdrawn_by"]
    actions = ["withdraw"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.granted_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description="Withdraw the selected certifications")
    def withdraw(self, request, queryset):
        count = queryset.filter(withdrawn_at__isnull=True).update(withdrawn_at=timezone.now(), withdrawn_by=request.user)
        messages.success(request, f"{count} certification(s) withdrawn.")


@admin.register(Assignment)
class AssignmentAdmin(ViewOnly):
    list_display = ["id", "queue_id", "record_id", "annotator", "status", "leased_until"]
    list_filter = ["status"]
    list_select_related = ["annotator"]
    search_fields = ["=id", "=record__id", "annotator__username"]
    raw_id_fields = ["queue", "record", "annotator"]


@admin.register(Annotation)
class AnnotationAdmin(ViewOnly):
    list_display = ["id", "queue_id", "record_id", "annotator", "action", "created_at"]
    list_filter = ["action"]
    list_select_related = ["annotator"]
    search_fields = ["=id", "=record__id", "annotator__username"]
    raw_id_fields = ["assignment", "queue", "record", "annotator"]


@admin.register(ReviewDecision)
class ReviewDecisionAdmin(ViewOnly):
    list_display = ["id", "queue_id", "record_id", "outcome", "votes", "adjudicated_by", "decided_at"]
    list_filter = ["outcome"]
    list_select_related = ["adjudicated_by"]
    search_fields = ["=id", "=record__id"]
    raw_id_fields = ["queue", "record", "adjudicated_by"]
    actions = ["accept", "reject"]

    @admin.action(description="Adjudicate: accept the selected records")
    def accept(self, request, queryset):
        self._adjudicate(request, queryset, ReviewDecision.Outcome.ACCEPTED)

    @admin.action(description="Adjudicate: reject the selected records")
    def reject(self, request, queryset):
        self._adjudicate(request, queryset, ReviewDecision.Outcome.REJECTED)

    def _adjudicate(self, request, queryset, outcome):
        for decision in queryset.select_related("queue__language"):
            review_adjudicate(lead=request.user, decision=decision, outcome=outcome, note="Adjudicated in the admin.")
        messages.success(request, f"{queryset.count()} record(s) {outcome}.")
