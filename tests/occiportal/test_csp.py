"""A strict Content-Security-Policy on every answer, and pages that need nothing it refuses."""

import re
from pathlib import Path

import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]
INLINE = [
    re.compile(r"<script(?![^>]*\bsrc=)[^>]*>"),  # a script element without src
    re.compile(r"<style\b"),
    re.compile(r"\sstyle=", re.I),
    re.compile(r"\son[a-z]+=", re.I),
    re.compile(r"javascript:", re.I),
]


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in policy.split(";") if part.strip())}


@pytest.mark.parametrize("url", ["/", "/languages/", "/accounts/login/", "/api/languages/", "/admin/login/"])
def test_every_answer_carries_a_strict_policy(client, db, url):
    policy = directives(client.get(url))

    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"]


@pytest.mark.parametrize("path", sorted((ROOT / "templates").rglob("*.html")), ids=lambda p: p.name)
def test_templates_hold_no_inline_script_or_style(path):
    text = path.read_text()

    assert not [pattern.pattern for pattern in INLINE if pattern.search(text)]


def test_pages_with_charts_and_the_admin_render_without_inline_style(client, staff, member_a, partner_a, german):
    from tests.web.conftest import make_submission

    submission = make_submission(partner=partner_a, uploader=member_a, language=german,
                                 quality={"words": [0] * 11 + [30]})  # fmt: skip
    client.force_login(staff)
    detail = reverse("submission_detail", args=[submission.pk])

    assert '<svg class="bar"' in client.get(detail).text
    for url in [detail, reverse("dashboard"), "/admin/"]:
        html = client.get(url).text
        assert not [pattern.pattern for pattern in INLINE if pattern.search(html)], url


def test_the_api_docs_load_redoc_from_the_portal(client, db):
    response = client.get(reverse("api-docs"))
    html = response.text

    assert response.status_code == 200
    assert re.search(r'<script src="/static/drf_spectacular_sidecar/redoc/bundles/redoc\.standalone\.js">', html)
    assert "cdn" not in html and "https://" not in html
    assert directives(response)["script-src"] == ["'self'"]
