"""Admin: snapshots are read-mostly (built by services), withdrawals listed for staff."""

from django.contrib import admin

from .models import Snapshot, SnapshotSubmission, Withdrawal


class LineageInline(admin.TabularInline):
    model = SnapshotSubmission
    extra = 0
    can_delete = False
    fields = ("submission", "partner", "language", "license", "records", "tokens")
    readonly_fields = fields


@admin.register(Snapshot)
class SnapshotAdmin(admin.ModelAdmin):
    list_display = ("__str__", "status", "license", "progress", "created_at")
    list_filter = ("status", "license")
    search_fields = ("name",)
    inlines = [LineageInline]
    # Immutable once built: everything but the description is the build's.
    readonly_fields = (
        "name", "version", "status", "parameters", "license", "license_override_reason", "license_conflicts",
        "created_by", "started_at", "finished_at", "uri", "manifest_sha256", "counts", "contamination",
        "fertility", "progress", "failure",
    )

    def has_add_permission(self, request):
        return False  # defined through the snapshot form or build_snapshot, which check licences


@admin.register(Withdrawal)
class WithdrawalAdmin(admin.ModelAdmin):
    list_display = ("__str__", "partner", "records_withdrawn", "created_at", "resolved_at")
    list_filter = ("partner",)
    raw_id_fields = ("submission", "record")
    readonly_fields = ("partner", "submission", "record", "requested_by", "records_withdrawn", "created_at")

    def has_add_permission(self, request):
        return False  # withdrawing changes records: it goes through withdrawal_create


from . import admin_runs  # noqa: E402,F401 - runs, base models and evaluations
