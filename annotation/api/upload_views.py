"""Resumable uploads over the tus 1.0.0 protocol (core, creation, termination, expiration).

    POST   /api/uploads/        Upload-Length, Upload-Metadata "filename <base64>"  → 201, Location
    HEAD   /api/uploads/<id>/   → Upload-Offset, Upload-Length
    PATCH  /api/uploads/<id>/   Upload-Offset, Content-Type: application/offset+octet-stream, the next bytes → 204
    DELETE /api/uploads/<id>/   → 204

Any tus client works (tus-js-client, tuspy) with a chunk size of at most
64 MiB (``UPLOAD_PIECE_MAX_BYTES``; their default sends the whole file in one
request, which is refused with 413); a finished upload is then
submitted with ``upload=<id>`` in place of ``file`` (POST /api/submissions/,
or the upload form). Another user's upload answers 404, like a missing one.
"""

import base64
import binascii
import logging
import re
from datetime import timedelta

from django.conf import settings
from django.urls import reverse
from django.utils.http import http_date
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import Upload
from annotation.selectors import partners_of
from annotation.services.uploads import UploadError, upload_append, upload_cancel, upload_create, upload_of

log = logging.getLogger(__name__)

TUS_VERSION = "1.0.0"
DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII only: str.isdigit() takes "²", which int() refuses
OFFSET_STREAM = "application/offset+octet-stream"


def _tus(response: Response, **headers) -> Response:
    """``response`` with the tus headers named (``Upload_Offset`` → ``Upload-Offset``).

    ``finalize_response`` adds Tus-Resumable and Cache-Control to every answer.
    """
    for name, value in headers.items():
        response[name.replace("_", "-")] = str(value)
    return response


def _refused(status: int, detail: str) -> Response:
    return Response({"detail": detail}, status=status)


def _header_int(request, name: str) -> int | None:
    value = request.headers.get(name, "")
    return int(value) if DIGITS.fullmatch(value) else None


def parse_metadata(header: str) -> dict[str, str]:
    """tus Upload-Metadata: comma-separated ``key base64(value)`` pairs (a value may be absent)."""
    metadata = {}
    for pair in filter(None, (p.strip() for p in header.split(","))):
        key, __, encoded = pair.partition(" ")
        try:
            metadata[key] = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ValueError(_("Upload-Metadata: the value of %(key)s is not base64 of UTF-8 text.") % {"key": key})
    return metadata


class _TusView(APIView):
    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication, CSRF for sessions
        if not partners_of(request.user).exists():
            raise PermissionDenied(_("Only members of a partner organisation can upload."))

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        return _tus(response, Tus_Resumable=TUS_VERSION, Cache_Control="no-store")

    def options(self, request, *args, **kwargs):
        return _tus(
            Response(status=204), Tus_Version=TUS_VERSION, Tus_Extension="creation,termination,expiration",
            Tus_Max_Size=settings.INGEST["MAX_UPLOAD_BYTES"],
        )  # fmt: skip

    def _version_refused(self, request) -> Response | None:
        if request.headers.get("Tus-Resumable") != TUS_VERSION:
            detail = _("Send Tus-Resumable: %(version)s.") % {"version": TUS_VERSION}
            return _tus(_refused(412, detail), Tus_Version=TUS_VERSION)
        return None


class UploadCreate(_TusView):
    """Start a resumable upload (tus creation): say the file's length and name."""

    @extend_schema(
        request=None,
        parameters=[
            OpenApiParameter("Tus-Resumable", str, OpenApiParameter.HEADER, required=True, enum=[TUS_VERSION]),
            OpenApiParameter("Upload-Length", int, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("Upload-Metadata", str, OpenApiParameter.HEADER, description='"filename <base64>"'),
        ],
        responses={
            201: OpenApiResponse(OpenApiTypes.OBJECT, description='{"id", "url"}; the Location header is the url.'),
            400: OpenApiResponse(description="Bad headers, or too many unfinished uploads."),
            413: OpenApiResponse(description="Over the upload size limit."),
        },
    )
    def post(self, request):
        if refused := self._version_refused(request):
            return refused
        length = _header_int(request, "Upload-Length")
        if length is None:
            return _refused(400, _("Send Upload-Length: the file's size in bytes."))
        try:
            filename = parse_metadata(request.headers.get("Upload-Metadata", "")).get("filename", "")
            upload = upload_create(owner=request.user, filename=filename, length=length)
        except ValueError as error:
            return _refused(400, str(error))
        except UploadError as error:
            return _refused(error.status, str(error))
        url = reverse("api:upload", args=[upload.pk])
        return _tus(Response({"id": str(upload.pk), "url": url}, status=201), Location=url, Upload_Offset=0,
                    Upload_Expires=_expires(upload))  # fmt: skip


class UploadDetail(_TusView):
    """One resumable upload: its offset (HEAD), its next bytes (PATCH), cancel (DELETE)."""

    def _open(self, request, pk) -> tuple[Upload | None, Response | None]:
        """The user's upload, or the answer refusing the request."""
        if refused := self._version_refused(request):
            return None, refused
        upload = upload_of(request.user, pk)
        if upload is None:
            if request.method == "HEAD":  # a HEAD answer has no body
                return None, Response(status=404)
            return None, _refused(404, _("No such upload."))
        return upload, None

    @extend_schema(responses={200: OpenApiResponse(description="Upload-Offset and Upload-Length headers."), 404: None})
    def head(self, request, pk):
        upload, refused = self._open(request, pk)
        if refused:
            return refused
        return _tus(Response(status=200), Upload_Offset=upload.offset, Upload_Length=upload.length,
                    Upload_Metadata=_metadata(upload), Upload_Expires=_expires(upload))  # fmt: skip

    @extend_schema(
        request={OFFSET_STREAM: OpenApiTypes.BINARY},
        parameters=[OpenApiParameter("Upload-Offset", int, OpenApiParameter.HEADER, required=True)],
        responses={
            204: OpenApiResponse(description="Stored; Upload-Offset is the new offset."),
            404: None,
            409: OpenApiResponse(description="Upload-Offset is not the upload's: HEAD, then go on from there."),
            411: OpenApiResponse(description="Content-Length is missing."),
            413: OpenApiResponse(description="Past the file's length, or over the per-request limit (64 MiB)."),
            415: OpenApiResponse(description=f"Content-Type must be {OFFSET_STREAM}."),
        },
    )
    def patch(self, request, pk):
        upload, refused = self._open(request, pk)
        if refused:
            return refused
        if request.content_type != OFFSET_STREAM:
            return _refused(415, _("Send the bytes as Content-Type: %(type)s.") % {"type": OFFSET_STREAM})
        offset = _header_int(request, "Upload-Offset")
        if offset is None:
            return _refused(400, _("Send Upload-Offset: where these bytes start."))
        length = _header_int(request, "Content-Length")
        if length is None:  # WSGI reads no body without one
            return _refused(411, _("Send Content-Length: the size of these bytes."))
        try:
            # The raw body, read in pieces: never request.data, which would parse it.
            new_offset = upload_append(upload=upload, offset=offset, stream=request._request, content_length=length)
        except UploadError as error:
            return _refused(error.status, str(error))
        except OSError:  # the client went away mid-piece; what arrived counts, and nobody reads this answer
            log.info("upload %s: the connection dropped at byte %s", upload.pk, upload.offset)
            return _refused(400, _("The connection dropped; ask for the offset and go on from there."))
        return _tus(Response(status=204), Upload_Offset=new_offset, Upload_Expires=_expires(upload))

    @extend_schema(responses={204: None, 404: None})
    def delete(self, request, pk):
        upload, refused = self._open(request, pk)
        if refused:
            return refused
        upload_cancel(upload=upload)
        return Response(status=204)


def _metadata(upload: Upload) -> str:
    return f"filename {base64.b64encode(upload.filename.encode()).decode()}"


def _expires(upload: Upload) -> str:
    """When an untouched upload is dropped (tus expiration), as an HTTP date."""
    return http_date((upload.updated_at + timedelta(hours=settings.UPLOAD_EXPIRE_HOURS)).timestamp())
