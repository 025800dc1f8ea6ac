"""Requests the portal refuses before any view reads them, and NUL-free request bodies for the API.

Control characters in an address, a query string or a header answer 400
(occiportal/controls.py says why); JSON and form bodies may hold newlines
and tabs, so the API's parsers refuse NUL only. Forms refuse NUL in their
own fields (Django's CharField does); a field that decodes JSON itself
checks with ``holds_nul``.
"""

import re
from urllib.parse import unquote

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from .controls import CONTROL, holds_nul, nul_message

HEADER_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # a tab may fold a header value


def _refusal(request, status: int, message: str) -> HttpResponse:
    """The API answers ``{"detail": …}`` as DRF does; pages answer plain text."""
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": message}, status=status)
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


class InputGuardMiddleware:
    """Refuse control characters in the address, query and headers (400) and oversize multipart bodies (413).

    Before the CSRF middleware, which reads a form's body: the size is
    judged by Content-Length before any byte is read; after the locale
    middleware, so that the refusal speaks the reader's language. Under
    WSGI no more than Content-Length bytes can be read, so the check bounds
    what reaches the temporary folder.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self._has_control(request):
            return _refusal(request, 400, _(
                "The address, its query or a header holds a control character (such as NUL); send plain text."
            ))  # fmt: skip
        size, limit = _content_length(request), _multipart_limit()
        if request.content_type == "multipart/form-data" and size > limit:
            return _refusal(request, 413, _("The request is %(size)s bytes; an upload may be at most %(limit)s bytes.")
                            % {"size": size, "limit": limit})  # fmt: skip
        return self.get_response(request)

    @staticmethod
    def _has_control(request) -> bool:
        if CONTROL.search(request.path_info) or CONTROL.search(unquote(request.META.get("QUERY_STRING", ""))):
            return True
        return any(HEADER_CONTROL.search(str(v)) for k, v in request.META.items() if k.startswith("HTTP_"))


def _content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _multipart_limit() -> int:
    """The largest file the portal takes, and room for the form's other fields."""
    return settings.INGEST["MAX_UPLOAD_BYTES"] + settings.DATA_UPLOAD_MAX_MEMORY_SIZE


class _RefusesNul:
    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        data = getattr(parsed, "data", parsed)  # multipart answers data and files
        fields = dict(data.lists()) if hasattr(data, "lists") else data
        if holds_nul(fields):
            raise ParseError(nul_message())
        return parsed


class JSONParser(_RefusesNul, parsers.JSONParser):
    pass


class FormParser(_RefusesNul, parsers.FormParser):
    pass


class MultiPartParser(_RefusesNul, parsers.MultiPartParser):
    pass
