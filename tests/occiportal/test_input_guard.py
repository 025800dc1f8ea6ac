"""NUL and control characters through every URL parameter, query, header and body field of every endpoint: never a 500.

The endpoints are read from the URL resolver, so a new one is covered
without touching this file; the body fields are every field the API's
schema names plus the ones pages read from their forms.
"""

import functools
import json
import re
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator

from ..conftest import make_user

NUL, CONTROL = "a\x00b", "a\x01\x1fb"
# Everything the portal's code reads from request headers, and some it does not.
HEADERS = {
    "Authorization": f"Token {NUL}", "Cookie": f"sessionid={NUL}; csrftoken={NUL}; django_language={NUL}",
    **dict.fromkeys([
        "Upload-Metadata", "Upload-Length", "Upload-Offset", "Tus-Resumable", "Accept-Language", "Referer", "Origin",
        "X-Forwarded-Proto", "X-Forwarded-For", "X-CSRFToken", "Range", "If-None-Match", "Content-Type",
    ], NUL),
}  # fmt: skip
QUERY = ["language", "kind", "status", "page", "q", "next", "translate", "limit", "offset", "lang", "o", "partner", "other"]
# Fields pages read straight from request.POST, beside their forms' fields.
FORM_FIELDS = ["source_record", "repo_id", "submission", "on_leaderboard", "action", "edit_json", "username", "code",
               "confirm", "name", "source", "revision", "provenance", "description"]
METHODS = ["get", "post", "put", "patch", "delete"]
PARAMETER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")
SAMPLES = {"int": "1", "uuid": "00000000-0000-0000-0000-000000000001", "slug": "alpha"}


def _routes(resolver=None, prefix=""):
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


def _url(route: str, text: str) -> str:
    """The route with ``text`` in each parameter that takes text, a valid value in the others."""
    route = re.sub(r"\(\?P<\w+>(\w+)\|?[^)]*\)", r"\1", route).strip("^$").replace("^", "")  # admin's regexes
    return "/" + PARAMETER.sub(lambda m: SAMPLES.get(m["converter"]) or quote(text, safe=""), route)


@functools.cache
def _schema_fields() -> frozenset[str]:
    schemas = SchemaGenerator().get_schema(public=True)["components"]["schemas"]
    return frozenset(name for schema in schemas.values() for name in schema.get("properties", {}))


ROUTES = sorted(set(_routes()))


@pytest.fixture
def staff_client(db):
    client = Client(raise_request_exception=False)
    client.force_login(make_user("sam", staff=True))
    return client


@pytest.mark.parametrize("route", ROUTES)
def test_control_characters_never_cause_a_500(staff_client, route):
    fields = sorted(_schema_fields() | set(FORM_FIELDS))
    answers = []
    for text in (NUL, CONTROL):
        url = _url(route, text)
        answers.append(("path", staff_client.get(url)))
        answers.append(("query", staff_client.get(url, {name: text for name in QUERY})))
    url = _url(route, "x")
    for header, value in HEADERS.items():
        answers.append((header, staff_client.get(url, headers={header: value})))
    for method in METHODS[1:]:
        body = json.dumps({name: NUL for name in fields})
        answers.append((f"{method} json", getattr(staff_client, method)(url, body, content_type="application/json")))
    answers.append(("post form", staff_client.post(url, {name: NUL for name in fields})))

    failures = [(where, answer.status_code) for where, answer in answers if answer.status_code >= 500]
    assert not failures, failures
