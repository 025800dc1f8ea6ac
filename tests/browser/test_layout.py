"""The layout holds on a phone (390 px) and a laptop (1280 px), in German, the longest of the portal's languages."""

import shutil

import pytest
from django.conf import settings
from django.urls import reverse

from tests.browser.conftest import CHROMIUM, refused_by_policy, screenshot, sign_in
from tests.conftest import language
from tests.training.run_helpers import make_run

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian's chromium is not installed"),
]

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 900}


@pytest.fixture
def german_page(browser, live_server, staff):
    """Staff (who see every link) signed in, reading German, at a viewport the test picks; no CSP refusals."""
    contexts = []

    def open_at(viewport):
        context = browser.new_context(viewport=viewport)
        contexts.append((context, refused_by_policy(context)))
        page = context.new_page()
        sign_in(page, live_server.url, staff.username)
        context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": "de", "url": live_server.url}])
        return page

    yield open_at
    for context, refused in contexts:
        context.close()
        assert not refused, refused


def _header_rows(page):
    """How many distinct rows the header's items sit in."""
    return page.evaluate("""() => {
        const items = [...document.querySelectorAll('.site-header .brand, .site-nav li, .header-tools > *')]
            .filter(el => el.offsetParent !== null);
        const tops = items.map(el => Math.round(el.getBoundingClientRect().top + el.getBoundingClientRect().height / 2));
        const rows = [];
        for (const t of tops) if (!rows.some(r => Math.abs(r - t) < 12)) rows.push(t);
        return rows.length;
    }""")


def test_signed_in_header_is_one_row_at_1280_in_german(german_page, live_server):
    page = german_page(LAPTOP)
    page.goto(live_server.url + reverse("dashboard"))
    assert page.locator("html").get_attribute("lang") == "de"
    screenshot(page, "header-1280-de")
    assert _header_rows(page) == 1


def test_phone_header_collapses_into_a_menu(german_page, live_server):
    page = german_page(PHONE)
    page.goto(live_server.url + reverse("dashboard"))
    screenshot(page, "dashboard-390")
    header = page.locator(".site-header").bounding_box()["height"]
    assert header < 80
    assert not page.locator(".site-nav").is_visible()
    page.locator("[data-menu-toggle]").click()
    assert page.get_by_role("link", name="Snapshots").is_visible()
    assert page.locator(".site-nav").bounding_box()["width"] <= PHONE["width"]
    screenshot(page, "dashboard-390-menu")


@pytest.mark.parametrize("name", ["run_detail", "snapshot_new"])
def test_pages_do_not_scroll_sideways_on_a_phone(german_page, live_server, staff, name):
    page = german_page(PHONE)
    args = [make_run(user=staff).pk] if name == "run_detail" else []
    page.goto(live_server.url + reverse(name, args=args))
    screenshot(page, f"{name}-390")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0


@pytest.mark.parametrize("name, field", [("snapshot_new", "#id_seed"), ("review_queue_new", "#id_overlap")])
def test_number_fields_take_the_portals_style(german_page, live_server, name, field):
    language("de")  # the queue form is offered for the languages there are
    page = german_page(LAPTOP)
    page.goto(live_server.url + reverse(name))
    radius = page.locator(field).evaluate("el => getComputedStyle(el).borderTopLeftRadius")
    assert radius == "6.4px"  # .form inputs: 0.4rem, not the browser's square default


def test_a_tablet_folds_the_menu_too(german_page, live_server):
    page = german_page({"width": 800, "height": 1000})
    page.goto(live_server.url + reverse("dashboard"))
    screenshot(page, "dashboard-800")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    assert page.locator(".site-header").bounding_box()["height"] < 80
