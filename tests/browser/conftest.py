"""Debian's Chromium through Playwright's sync API, shared by the browser tests."""

import os
import re

import pytest
from django.urls import reverse

from tests.conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    # The sync Playwright API runs an event loop in this thread, and Django
    # refuses ORM calls (fixtures, teardown) while one runs. Allowed only
    # while the browser is up, so subprocesses of other tests never see it.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    refused = refused_by_policy(context)
    page = context.new_page()
    yield page
    context.close()
    assert not refused, refused


def refused_by_policy(context):
    """What the Content-Security-Policy refused on this context's pages, as the console reports it."""
    refused = []
    context.on("console", lambda message: "Content Security Policy" in message.text and refused.append(message.text))
    return refused


def screenshot(page, name):
    """Save a full-page screenshot for design review when OCCIPORTAL_SCREENSHOT_DIR is set."""
    folder = os.environ.get("OCCIPORTAL_SCREENSHOT_DIR")
    if folder:
        page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)


def sign_in(page, base_url, username):
    page.goto(base_url + reverse("login"))
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/dashboard/$"))
