"""API for snapshots: list and read the ones you may see, download the files you may download.

File URLs answer HEAD and byte ranges and take ``Authorization: Token <key>``
(or ``Bearer <key>``), so remote readers can stream shards: pyarrow over an
HTTP file, ``curl -C -``, or ``datasets.load_dataset("parquet", data_files=
[urls], streaming=True, storage_options={"headers": {...}})``.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.views import APIView

from training.access import access_snapshot_file, access_snapshot_for_viewing, snapshots_downloadable_by, snapshots_viewable_by
from training.services.snapshot_files import snapshot_file_response

from .serializers import SnapshotDetailSerializer, SnapshotSerializer


class BearerTokenAuthentication(TokenAuthentication):
    """The same API tokens, sent the way Hugging Face tools send theirs."""

    keyword = "Bearer"


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = BearerTokenAuthentication
    name = "bearerTokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An API token, as `Authorization: Bearer <key>`."}


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
