"""What training's API reads and writes: runs, snapshots and their files, withdrawals."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from annotation.api.serializers import SubmissionSerializer
from training.models import BaseModel, EvaluationSuite, Snapshot, TrainingRun, Withdrawal
from training.run_selectors import is_staff
from training.services.snapshot_files import SHARD, snapshot_files


# -- runs ------------------------------------------------------------------------------------------

class TrainingRunSerializer(serializers.ModelSerializer):
    """A run; where its checkpoint lies and what failed on the GPU host only for staff (pass ``request``)."""

    STAFF_ONLY = ("checkpoint_path", "failure")

    snapshot = serializers.CharField(source="snapshot.label", read_only=True)
    base_model = serializers.CharField(source="base_model.name", read_only=True)

    class Meta:
        model = TrainingRun
        fields = ["id", "status", "snapshot", "base_model", "method", "finetuning", "hyperparameters", "resources", "attempt",
                  "max_attempts", "step", "total_steps", "loss", "tokens_per_second", "eta_seconds",
                  "checkpoint_path", "failure", "published", "withdrawn_override_reason",
                  "created_at", "started_at", "finished_at"]  # fmt: skip

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        if request is None or not is_staff(request.user):
            for name in self.STAFF_ONLY:
                data.pop(name, None)
        return data


class TrainingRunCreateSerializer(serializers.Serializer):
    snapshot = serializers.PrimaryKeyRelatedField(queryset=Snapshot.objects.filter(status=Snapshot.Status.READY))
    base_model = serializers.SlugRelatedField(slug_field="name", queryset=BaseModel.objects.all())
    method = serializers.ChoiceField(choices=TrainingRun.Method.choices)
    finetuning = serializers.ChoiceField(choices=TrainingRun.Finetuning.choices, default="full")
    hyperparameters = serializers.DictField(required=False, default=dict)
    resources = serializers.DictField(
        required=False, default=dict, help_text="gpus_per_node and nodes (Resources, training/jobs/contract.py); empty: one GPU."
    )
    eval_suites = serializers.SlugRelatedField(slug_field="name", queryset=EvaluationSuite.objects.all(), many=True, required=False)
    withdrawn_reason = serializers.CharField(
        required=False, allow_blank=True, default="",
        help_text="Why to train on a snapshot holding withdrawn data; without it such a snapshot is refused (400).",
    )


# -- snapshots -------------------------------------------------------------------------------------

class SnapshotFileSerializer(serializers.Serializer):
    path = serializers.CharField()
    kind = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    language = serializers.CharField()
    split = serializers.CharField()
    rows = serializers.IntegerField(allow_null=True)
    url = serializers.SerializerMethodField()

    def get_url(self, file) -> str:
        return reverse("api_snapshot_file", args=[self.context["snapshot"].pk, file.path], request=self.context["request"])


class SnapshotSerializer(serializers.ModelSerializer):
    label = serializers.CharField(read_only=True)
    # Plain text: a second "status" enum would collide with the runs' in the schema.
    status = serializers.CharField(read_only=True, help_text="draft, building, ready or failed")
    can_download = serializers.SerializerMethodField()

    class Meta:
        model = Snapshot
        fields = ["id", "label", "name", "version", "status", "license", "manifest_sha256", "counts", "can_download",
                  "created_at", "finished_at"]  # fmt: skip

    def get_can_download(self, snapshot) -> bool:
        return snapshot.pk in self.context["downloadable"]


class SnapshotDetailSerializer(SnapshotSerializer):
    files = serializers.SerializerMethodField()

    class Meta(SnapshotSerializer.Meta):
        fields = [*SnapshotSerializer.Meta.fields, "files"]

    @extend_schema_field(SnapshotFileSerializer(many=True))
    def get_files(self, snapshot):
        """Card and manifest for whoever sees the snapshot; the shards too for those who may download it."""
        files = [f for f in snapshot_files(snapshot) if f.kind != SHARD or snapshot.pk in self.context["downloadable"]]
        return SnapshotFileSerializer(files, many=True, context={**self.context, "snapshot": snapshot}).data


# -- withdrawals -----------------------------------------------------------------------------------

class WithdrawalRequestSerializer(serializers.Serializer):
    lines = serializers.ListField(
        child=serializers.CharField(max_length=400), required=False, default=list, max_length=10_000,
        help_text='Lines as the submission\'s page shows them: 7, or "docs/a.jsonl:7" for a member of an archive. '
                  "Absent or empty: the whole submission.",
    )  # fmt: skip
    reason = serializers.CharField(required=False, allow_blank=True, default="", help_text="Why, for the record.")


class WithdrawalSerializer(serializers.ModelSerializer):
    line = serializers.SerializerMethodField(help_text="The record's line; null for the whole submission.")
    text_removed_at = serializers.DateTimeField(
        source="text_pruned_at", read_only=True,
        help_text="When the text left the portal's files; null while the removal is pending (a worker does it).",
    )  # fmt: skip
    snapshots_counted_at = serializers.DateTimeField(
        source="snapshots_found_at", read_only=True,
        help_text="When the snapshots holding it were found and counted; null while counting is pending.",
    )  # fmt: skip

    class Meta:
        model = Withdrawal
        fields = ["id", "line", "reason", "records_withdrawn", "created_at", "text_removed_at", "snapshots_counted_at"]

    def get_line(self, withdrawal) -> str | None:
        return withdrawal.record.shown_line if withdrawal.record_id else None


class WithdrawalResultSerializer(serializers.Serializer):
    created = serializers.BooleanField(help_text="False when all of it was withdrawn already: nothing changed.")
    withdrawals = WithdrawalSerializer(many=True, help_text="The withdrawals covering what was asked, one per line.")
    submission = SubmissionSerializer()
