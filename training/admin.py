"""Admin: snapshots are read-mostly (built by services), withdrawals listed for staff."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .models import Snapshot, SnapshotSubmission, Withdrawal
from .models.snapshots import SnapshotAccess
from .services.hub import REPO_ID, snapshot_hub_push_request, snapshot_hub_repo_default
from .services.snapshots import snapshot_access_grant


class LineageInline(admin.TabularInline):
    model = SnapshotSubmission
    extra = 0
    can_delete = False
    fields = ("submission", "partner", "language", "license", "records", "tokens")
    readonly_fields = fields


class GrantInline(admin.TabularInline):
    """Who may download this snapshot besides staff (docs/snapshots.md, "Downloads"); delete a row to revoke."""

    model = SnapshotAccess
    extra = 0
    fields = ("user", "reason", "expires_at", "granted_by", "created_at")
    readonly_fields = ("granted_by", "created_at")
    raw_id_fields = ("user",)


class HubPushForm(forms.Form):
    repo_id = forms.RegexField(
        regex=REPO_ID, label=gettext_lazy("Hub dataset repository"),
        help_text=gettext_lazy("organisation/name; created private if missing. Pushing into a public repository is refused."),
    )


@admin.register(Snapshot)
class SnapshotAdmin(admin.ModelAdmin):
    list_display = ("__str__", "status", "license", "progress", "hub_status", "created_at")
    list_filter = ("status", "license", "hub_status")
    search_fields = ("name",)
    inlines = [GrantInline, LineageInline]
    actions = ["push_to_hub"]
    # Immutable once built: everything but the description is the build's.
    readonly_fields = (
        "name", "version", "status", "parameters", "license", "license_override_reason", "license_conflicts",
        "created_by", "started_at", "finished_at", "uri", "manifest_sha256", "counts", "contamination",
        "fertility", "progress", "failure",
        # The last Hub push: moved by the push action and the worker only.
        "hub_status", "hub_repo", "hub_requested_by", "hub_requested_at", "hub_started_at", "hub_pushed_at",
        "hub_commit", "hub_url", "hub_error",
    )

    def has_add_permission(self, request):
        return False  # defined through the snapshot form or build_snapshot, which check licences

    def save_formset(self, request, form, formset, change):
        if formset.model is not SnapshotAccess:
            return super().save_formset(request, form, formset, change)
        grants = formset.save(commit=False)  # saved through the service: staff only, reason required, granter kept
        moved = {grant.pk for grant, fields in formset.changed_objects if "user" in fields}
        for grant in grants:
            if grant.pk in moved:  # a grant given to someone else is taken from its holder
                SnapshotAccess.objects.filter(pk=grant.pk).delete()
            snapshot_access_grant(snapshot=form.instance, user=grant.user, granted_by=request.user, reason=grant.reason,
                                  expires_at=grant.expires_at)
        for grant in formset.deleted_objects:
            grant.delete()

    @admin.action(description=gettext_lazy("Push to a private Hugging Face Hub dataset repository"))
    def push_to_hub(self, request, queryset):
        """Asks for the repository, then queues the push; the snapshot's page follows it to the commit or the error."""
        if queryset.count() != 1:
            self.message_user(request, _("Choose one snapshot to push."), messages.WARNING)
            return None
        snapshot = queryset.get()
        form = HubPushForm(request.POST if "push" in request.POST else None,
                           initial={"repo_id": snapshot_hub_repo_default(snapshot)})
        if form.is_valid():
            try:
                snapshot_hub_push_request(snapshot=snapshot, repo_id=form.cleaned_data["repo_id"], requested_by=request.user)
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.ERROR)
                return None
            self.message_user(request, format_html(
                _('{label} is queued for {repo}; <a href="{page}">its page</a> shows the commit, or the error, '
                  'once the worker is done.'),
                label=snapshot.label, repo=form.cleaned_data["repo_id"], page=reverse("snapshot_detail", args=[snapshot.pk]),
            ), messages.SUCCESS)
            return None
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "snapshot": snapshot,
                   "form": form, "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                   "title": _("Push %(label)s to the Hub") % {"label": snapshot.label}}
        return TemplateResponse(request, "snapshots/hub_push.html", context)


@admin.register(Withdrawal)
class WithdrawalAdmin(admin.ModelAdmin):
    list_display = ("__str__", "partner", "records_withdrawn", "created_at", "resolved_at")
    list_filter = ("partner",)
    raw_id_fields = ("submission", "record")
    readonly_fields = ("partner", "submission", "record", "requested_by", "records_withdrawn", "created_at")

    def has_add_permission(self, request):
        return False  # withdrawing changes records: it goes through withdrawal_create


from . import admin_runs  # noqa: E402,F401 - runs, base models and evaluations
