"""404, 403 and 500 are the portal's own pages, with its navigation, in the reader's language."""

import pytest
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from django.utils import translation
from django.views.defaults import permission_denied, server_error

pytestmark = pytest.mark.django_db


def test_not_found_is_the_portals_page_in_the_readers_language(client):
    response = client.get("/no-such-page/", HTTP_ACCEPT_LANGUAGE="de")
    html = response.content.decode()
    assert response.status_code == 404
    assert "Seite nicht gefunden" in html
    assert 'class="site-nav"' in html


def test_forbidden_is_the_portals_page():
    with translation.override("fr"):
        response = permission_denied(RequestFactory().get("/"), PermissionDenied())
    html = response.content.decode()
    assert response.status_code == 403
    assert "Action non autorisée" in html and 'class="site-nav"' in html


def test_server_error_renders_without_a_request_context():
    with translation.override("de"):
        response = server_error(RequestFactory().get("/"))
    html = response.content.decode()
    assert response.status_code == 500
    assert "Etwas ist schiefgelaufen" in html and 'class="site-nav"' in html
