"""What the review API reads and writes: queues, leased items, answers, figures."""

from django.contrib.auth import get_user_model
from rest_framework import serializers

from annotation.models import Annotation, Assignment, Certification, ReviewDecision, ReviewQueue
from annotation.models.review import RATING_MAX, RATING_MIN, Flag
from annotation.models.submissions import Kind


class ReviewQueueSerializer(serializers.ModelSerializer):
    language = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = ReviewQueue
        fields = ["id", "name", "language", "kind", "guidelines", "overlap", "consensus", "sample_rate",
                  "rating_scales", "lease_minutes", "active"]
        read_only_fields = fields


class LeasedRecordSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    language = serializers.CharField(source="language.code")
    content = serializers.JSONField()
    language_mismatch = serializers.BooleanField()
    detected_language = serializers.CharField()


# Plain fields, not ModelSerializers: next-item and submit render these on
# every call, and a ModelSerializer inspects its model each time.
class AssignmentSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    queue = serializers.IntegerField(source="queue_id", read_only=True)
    record = LeasedRecordSerializer(read_only=True)
    status = serializers.ChoiceField(choices=Assignment.Status.choices, read_only=True)
    leased_until = serializers.DateTimeField(read_only=True)


class AnswerSerializer(serializers.Serializer):
    """An answer; ``review_submit`` checks it against the queue's scales and the action's needs."""

    action = serializers.ChoiceField(choices=Annotation.Action.choices)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    ratings = serializers.DictField(
        child=serializers.IntegerField(min_value=RATING_MIN, max_value=RATING_MAX), required=False, default=dict
    )
    flags = serializers.ListField(child=serializers.ChoiceField(choices=Flag.choices), required=False, default=list)
    edited_content = serializers.JSONField(required=False, allow_null=True, default=None)


class AnnotationSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    assignment = serializers.IntegerField(source="assignment_id", read_only=True)
    record = serializers.IntegerField(source="record_id", read_only=True)
    action = serializers.ChoiceField(choices=Annotation.Action.choices, read_only=True)
    reason = serializers.CharField(read_only=True)
    ratings = serializers.JSONField(read_only=True)
    flags = serializers.JSONField(read_only=True)
    edited_content = serializers.JSONField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)
    decision = serializers.SerializerMethodField()

    def get_decision(self, annotation) -> str | None:
        if hasattr(annotation, "decision"):  # review_submit looked it up already
            decision = annotation.decision
        else:
            decision = ReviewDecision.objects.filter(queue=annotation.queue_id, record=annotation.record_id).first()
        return decision.outcome if decision else None


class DecisionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReviewDecision
        fields = ["id", "queue", "record", "outcome", "votes", "adjudicated_by", "note", "decided_at"]
        read_only_fields = fields


class AdjudicationSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=[ReviewDecision.Outcome.ACCEPTED, ReviewDecision.Outcome.REJECTED])
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class QueueCreateSerializer(serializers.Serializer):
    """A new queue; blank overlap and consensus take the per-kind defaults."""

    name = serializers.CharField(max_length=200)
    language = serializers.CharField(max_length=35, help_text="ISO 639 code of a language you lead.")
    kind = serializers.ChoiceField(choices=Kind.choices)
    guidelines = serializers.CharField(required=False, allow_blank=True, default="")
    overlap = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1)
    consensus = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1)
    sample_rate = serializers.FloatField(required=False, default=1.0, min_value=0.0001, max_value=1.0)
    rating_scales = serializers.ListField(child=serializers.SlugField(), required=False, default=list)
    lease_minutes = serializers.IntegerField(required=False, default=30, min_value=1, max_value=1440)


class CertificationSerializer(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", queryset=get_user_model().objects.all())
    granted_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Certification
        fields = ["id", "user", "language_code", "granted_by", "granted_at", "withdrawn_at"]
        read_only_fields = ["id", "granted_by", "granted_at", "withdrawn_at"]
        validators = []  # certification_grant decides; granting twice returns the live one


class WritingSerializer(serializers.Serializer):
    content = serializers.JSONField(help_text="The record as its kind's schema gives it (docs/formats.md).")
    source_record = serializers.IntegerField(required=False, allow_null=True, default=None)


class WrittenRecordSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    language = serializers.CharField(source="language.code")
    content = serializers.JSONField()
    status = serializers.CharField()
