"""What the API reads and writes: languages, partners, submissions."""

from django.utils.translation import gettext as _
from rest_framework import serializers

from annotation import licenses
from annotation.models import Submission
from annotation.models.submissions import Kind
from occiportal.models import Language, Partner


class LanguageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Language
        fields = ["code", "name_en", "name_native", "is_eu_official"]


class PartnerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Partner
        fields = ["slug", "name"]


# The figures ingest fills in, exactly the keys of ``Submission.figures()``
# apart from "submission" (the id) and "progress", which are listed apart.
FIGURE_FIELDS = [
    "records_read",
    "records_accepted",
    "records_rejected",
    "exact_duplicates",
    "near_duplicates",
    "language_mismatches",
    "pii_redactions",
    "tokens",
    "rejection_reasons",
    "errors",
    "failure",
]


WITHDRAWAL_FIELDS = ["withdrawn_at", "withdrawn_by", "withdrawn_records", "withdrawn_tokens"]


class SubmissionSerializer(serializers.ModelSerializer):
    """A submission's metadata, progress and figures (read only)."""

    partner = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    language = serializers.SlugRelatedField(slug_field="code", read_only=True)
    uploader = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    progress = serializers.IntegerField(read_only=True, min_value=0, max_value=100, help_text="0–100.")
    rejection_reasons = serializers.DictField(
        child=serializers.IntegerField(), read_only=True, help_text="Rejected records per reason."
    )
    errors = serializers.ListField(
        child=serializers.DictField(), read_only=True, help_text='The first bad lines: [{"line": N, "message": …}].'
    )
    # Withdrawal, apart from the ingest figures above, which describe the upload and stay as they were.
    withdrawn_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When the whole submission was withdrawn; null if it was not."
    )
    withdrawn_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Who withdrew the whole submission."
    )
    withdrawn_records = serializers.IntegerField(
        read_only=True, help_text="Records withdrawn, one by one or with the whole submission; totals leave them out."
    )
    withdrawn_tokens = serializers.IntegerField(read_only=True, help_text="Tokens of the withdrawn records.")

    class Meta:
        model = Submission
        fields = [
            "id",
            "uuid",
            "partner",
            "language",
            "kind",
            "license",
            "source",
            "consent",
            "uploader",
            "original_name",
            "size_bytes",
            "status",
            "progress",
            "chunks_total",
            "chunks_done",
            *FIGURE_FIELDS,
            *WITHDRAWAL_FIELDS,
            "original_deleted_at",
            "original_deleted_reason",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class SubmissionCreateSerializer(serializers.Serializer):
    """A file (multipart) or a finished resumable upload's id; ``submission_create`` has the last word."""

    file = serializers.FileField(use_url=False, required=False, help_text="The file, for uploads that fit one request.")
    upload = serializers.UUIDField(required=False, help_text="Or: a finished upload from /api/uploads/ (tus).")
    partner = serializers.SlugField(help_text="Slug of a partner you belong to.")
    language = serializers.CharField(max_length=35, help_text="ISO 639 code, as /api/languages/ lists them.")
    kind = serializers.ChoiceField(choices=Kind.choices)
    license = serializers.ChoiceField(choices=licenses.CHOICES, help_text="SPDX identifier.")
    source = serializers.CharField(help_text="Where the data comes from and how it was made.")
    consent = serializers.BooleanField(
        help_text="Your organisation may give this data under this licence.",
    )

    def validate(self, data):
        if ("file" in data) == ("upload" in data):
            raise serializers.ValidationError({"file": [_("Send a file, or the id of a finished upload (not both).")]})
        return data


class DuplicateOfSerializer(serializers.Serializer):
    line = serializers.CharField(help_text="The line it repeats, as that submission's page shows it.")
    submission = serializers.IntegerField(help_text="That line's submission (perhaps another partner's: only its id).")


class LineSerializer(serializers.Serializer):
    """One line behind a figure: a stored record, or a rejected line."""

    line = serializers.CharField(help_text='As the submission\'s page shows it: 7, or "docs/a.jsonl:7".')
    record = serializers.BooleanField(help_text="A stored record (which may be withdrawn); false for a rejected line.")
    withdrawn = serializers.BooleanField()
    detected_language = serializers.CharField(help_text="For a language mismatch: the language detected.")
    redactions = serializers.IntegerField(help_text="Pieces of personal data replaced in the record.")
    redaction_kinds = serializers.DictField(
        child=serializers.IntegerField(), help_text='Of those in its texts, per kind: {"email": 1, "phone": 2}.'
    )
    signals = serializers.ListField(child=serializers.CharField(), help_text="Quality signals in an outlier bar.")
    duplicate_of = DuplicateOfSerializer(allow_null=True, help_text="The line a near or exact duplicate repeats.")
    reason = serializers.SerializerMethodField(help_text="For a rejected line: the rejection's code.")
    message = serializers.SerializerMethodField(help_text="For a rejected line: what was wrong, in English.")

    def get_reason(self, row) -> str | None:
        return row.error.get("reason") if row.error else None

    def get_message(self, row) -> str | None:
        return row.error.get("message") if row.error else None


class LinesPageSerializer(serializers.Serializer):
    figure = serializers.CharField()
    redaction = serializers.CharField(help_text="The kind of personal data asked for; empty for all.")
    results = LineSerializer(many=True, source="rows")
    next = serializers.SerializerMethodField(help_text="The next page's URL; null on the last page.")

    def get_next(self, page) -> str | None:
        if page.next_after is None:
            return None
        return self.context["request"].build_absolute_uri(f"?{page.query(page.next_after)}")
