"""Admin for submissions and records.

Submissions are only made through ``submission_create`` (which queues
ingest) and only ingest moves their status and figures, so the admin shows
those read-only. Record tables grow to millions of rows: the changelists
use raw ids, joined selects, no full count, and an excerpt of the content.
"""

import json

from django.contrib import admin
from django.db.models import TextField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, Left
from django.utils.html import format_html

from .models import IngestChunk, Record, Submission, Upload
from .services.uploads import upload_cancel
from .text_selectors import record_text_read

INGEST_FIELDS = [
    "uuid",
    "status",
    "failure",
    "chunks_total",
    "chunks_done",
    "records_read",
    "records_accepted",
    "records_rejected",
    "exact_duplicates",
    "near_duplicates",
    "language_mismatches",
    "pii_redactions",
    "tokens",
    "errors",
    "rejection_reasons",
    "quality",
    "size_bytes",
    "original_name",
    "file",
    "created_at",
    "started_at",
    "finished_at",
]


EXCERPT_CHARS = 80


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "original_name",
        "partner",
        "language",
        "kind",
        "license",
        "status",
        "records_accepted",
        "tokens",
        "created_at",
    ]
    list_filter = ["status", "kind", "license", "language", "partner"]
    list_select_related = ["partner", "language"]
    search_fields = ["=id", "=uuid", "original_name", "partner__slug", "partner__name"]
    raw_id_fields = ["partner", "uploader", "language"]
    readonly_fields = [*INGEST_FIELDS, "withdrawn_at", "withdrawn_by", "withdrawn_records", "withdrawn_tokens"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        # Uploads go through the portal, the API or `manage.py submit`, which queue ingest.
        return False


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    """Resumable uploads not yet submitted; deleting one drops its bytes too."""

    list_display = ["id", "filename", "owner", "offset", "length", "updated_at"]
    search_fields = ["=id", "filename", "owner__username"]
    raw_id_fields = ["owner"]
    readonly_fields = ["id", "owner", "filename", "length", "offset", "created_at", "updated_at"]

    def has_add_permission(self, request):
        return False

    def delete_model(self, request, obj):
        upload_cancel(upload=obj)

    def delete_queryset(self, request, queryset):
        for upload in queryset:
            upload_cancel(upload=upload)


@admin.register(IngestChunk)
class IngestChunkAdmin(admin.ModelAdmin):
    """View only: chunks are ingest's bookkeeping."""

    list_display = ["submission_id", "index", "status", "spooled", "start", "end", "first_line"]
    list_filter = ["status"]
    search_fields = ["=submission__id"]
    raw_id_fields = ["submission"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Record)
class RecordAdmin(admin.ModelAdmin):
    list_display = ["id", "submission_id", "line", "language", "kind", "status", "excerpt", "language_mismatch", "tokens"]
    list_filter = ["status", "kind", "language_mismatch", "language"]
    list_select_related = ["language"]
    search_fields = ["=id", "=submission__id", "external_id", "=content_hash"]
    raw_id_fields = ["submission", "language", "near_duplicate_of"]
    exclude = ["content"]
    readonly_fields = [
        "submission",
        "line",
        "origin",
        "language",
        "kind",
        "content_display",
        "external_id",
        "meta",
        "content_hash",
        "detected_language",
        "language_score",
        "language_mismatch",
        "near_duplicate_of",
        "pii_redactions",
        "tokens",
        "quality",
        "created_at",
    ]
    show_full_result_count = False
    list_per_page = 50

    class Media:
        css = {"all": ["css/admin.css"]}  # a class, not a style attribute: the Content-Security-Policy refuses those

    def has_add_permission(self, request):
        return False

    def get_queryset(self, request):
        # The database cuts the excerpt: a page never loads whole documents.
        first = Coalesce(KT("content__text"), KT("content__prompt"), Cast("content", TextField()))
        return super().get_queryset(request).defer("content").annotate(content_excerpt=Left(first, EXCERPT_CHARS))

    @admin.display(description="content")
    def excerpt(self, record):
        return record.content_excerpt

    @admin.display(description="content")
    def content_display(self, record):
        # format_html escapes the record: partners' text is never markup here.
        content = record_text_read(record)  # a pretraining record's text may be in its chunk's file only
        return format_html('<pre class="record-content">{}</pre>', json.dumps(content, ensure_ascii=False, indent=2))


from . import admin_review  # noqa: E402,F401  (registers the review models)
