"""API for snapshots: list and read the ones you may see, download the files you may download.

File URLs answer HEAD and byte ranges and take ``Authorization: Token <key>``
(or ``Bearer <key>``), so remote readers can stream shards: pyarrow over an
HTTP file, ``curl -C -``, or ``datasets.load_dataset("parquet", data_files=
[urls], streaming=True, storage_options={"headers": {...}})``.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from training.access import access_snapshot_file, access_snapshot_for_viewing, snapshots_downloadable_by, snapshots_viewable_by
from training.models import Snapshot
from training.services.snapshot_files import SHARD, snapshot_file_response, snapshot_files


class BearerTokenAuthentication(TokenAuthentication):
    """The same API tokens, sent the way Hugging Face tools send theirs."""

    keyword = "Bearer"


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = BearerTokenAuthentication
    name = "bearerTokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An API token, as `Authorization: Bearer <key>`."}


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


class _WithDownloadable:
    def get_serializer_context(self):
        downloadable = set(snapshots_downloadable_by(self.request.user).values_list("pk", flat=True))
        return {**super().get_serializer_context(), "downloadable": downloadable}


class SnapshotList(_WithDownloadable, generics.ListAPIView):
    """Snapshots you may see: all for staff; ready ones shared with you or holding your partner's data."""

    serializer_class = SnapshotSerializer

    def get_queryset(self):
        return snapshots_viewable_by(self.request.user).order_by("name", "-version")


class SnapshotDetail(_WithDownloadable, generics.RetrieveAPIView):
    """One snapshot and its files, each with size, sha256 and download URL."""

    serializer_class = SnapshotDetailSerializer

    def get_object(self):
        return access_snapshot_for_viewing(self.request.user, self.kwargs["snapshot_id"])


class _AnyAccept(BaseContentNegotiation):
    """A file is bytes whatever the client says it accepts; errors are JSON."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class SnapshotFileDownload(APIView):
    """One file the snapshot's manifest lists; 206 for a ``Range``, 404 for a file you may not have."""

    authentication_classes = [TokenAuthentication, BearerTokenAuthentication, SessionAuthentication]
    content_negotiation_class = _AnyAccept

    @extend_schema(responses={
        (200, "application/octet-stream"): OpenApiTypes.BINARY,
        (206, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="The requested byte range."),
        (416, "application/octet-stream"): OpenApiResponse(description="The range starts past the end of the file."),
    })  # fmt: skip
    def get(self, request, snapshot_id, path):
        snapshot, file = access_snapshot_file(request.user, snapshot_id, path)
        return snapshot_file_response(request, snapshot, file)
