"""The path a partner clicks: sign in, upload a file, watch its checks finish.

Drives Debian's Chromium through Playwright's sync API against the live
server, with a real Celery worker ingesting the upload.
"""

import json
import re
import shutil

import pytest
from django.urls import reverse

from tests.annotation.texts import documents
from tests.browser.conftest import CHROMIUM, screenshot, sign_in
from tests.conftest import PASSWORD

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian's chromium is not installed"),
]


def test_upload_shows_progress_then_the_figures(page, live_server, celery_worker, member_a, german, tmp_path):
    from playwright.sync_api import expect

    data = tmp_path / "gemeinde.jsonl"
    data.write_text("".join(json.dumps({"text": text}, ensure_ascii=False) + "\n" for text in documents(3)))

    sign_in(page, live_server.url, "anna")
    page.get_by_role("link", name="New submission").first.click()
    page.locator("#id_language").select_option("de")
    page.locator("#id_kind").select_option("pretraining")
    page.locator("#id_license").select_option("CC-BY-4.0")
    page.locator("#id_source").fill("Articles from our municipal newsletter, written by staff.")
    page.locator("#id_file").set_input_files(str(data))
    expect(page.locator("[data-file-name]")).to_contain_text("gemeinde.jsonl")
    page.locator("#id_consent").check()

    # Hold the upload's response so the progress bar can be seen for certain.
    held = []

    def hold_post(route):
        if route.request.method == "POST":
            held.append(route)
        else:
            route.continue_()

    page.route("**" + reverse("submission_new"), hold_post)
    page.get_by_role("button", name="Upload and check").click()
    expect(page.locator("[data-upload-progress]")).to_be_visible()
    expect(page.get_by_role("button", name="Upload and check")).to_be_disabled()
    while not held:
        page.wait_for_timeout(20)
    held[0].continue_()

    page.wait_for_url(re.compile(r"/submissions/\d+/$"))
    expect(page.get_by_role("heading", name="gemeinde.jsonl")).to_be_visible()
    # The checks may be done before the page loads; if not, it shows their progress and polls.
    if page.locator("[data-status-url]").count():
        expect(page.locator("#ingest-progress")).to_be_visible()
    expect(page.locator("[data-status-badge] .badge")).to_have_text("Ready", timeout=60_000)
    expect(page.locator('[data-figure="records_accepted"]')).to_have_text("3")
    expect(page.locator('[data-figure="records_read"]')).to_have_text("3")
    expect(page.locator("table.records tbody tr")).to_have_count(3)

    screenshot(page, "submission")
    page.goto(live_server.url + reverse("dashboard"))
    expect(page.get_by_role("link", name="gemeinde.jsonl")).to_be_visible()
    screenshot(page, "dashboard")


def test_anonymous_visitor_signs_in_and_lands_on_the_dashboard(page, live_server, member_a):
    from playwright.sync_api import expect

    page.goto(live_server.url + reverse("dashboard"))
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    page.locator("#id_username").fill("anna")
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()


DROP_FILE = """(zone) => {
    const data = new DataTransfer();
    data.items.add(new File(['{"text": "Guten Morgen"}\\n'], "dropped.jsonl", {type: "application/jsonl"}));
    for (const type of ["dragenter", "dragover", "drop"]) {
        zone.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: data}));
    }
}"""


def test_dropped_file_is_sent_and_errors_replace_the_form_in_place(page, live_server, member_a, german):
    from playwright.sync_api import expect

    sign_in(page, live_server.url, "anna")
    page.goto(live_server.url + reverse("submission_new"))
    page.locator("[data-dropzone]").evaluate(DROP_FILE)
    expect(page.locator("[data-file-name]")).to_contain_text("dropped.jsonl")
    page.get_by_role("button", name="Upload and check").click()  # no language, licence, source or consent

    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("please choose it again")  # the dropped file was sent
    expect(page.locator("#id_consent_error")).to_be_visible()
    expect(page.locator("#id_language")).to_have_attribute("aria-invalid", "true")
    expect(page).to_have_url(re.compile(r"/submissions/new/$"))
    # The replaced form still posts through the script.
    expect(page.get_by_role("button", name="Upload and check")).to_be_enabled()
