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


def wait_until(page, predicate, timeout_ms=10_000):
    """Poll ``predicate`` while Playwright's loop turns (route handlers run meanwhile), unlike time.sleep."""
    for _ in range(timeout_ms // 50):
        if predicate():
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"condition not met within {timeout_ms} ms")


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
    wait_until(page, lambda: held)
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


def test_dropped_file_is_sent_and_errors_replace_the_form_in_place(page, live_server, celery_worker, member_a, german):
    from playwright.sync_api import expect

    from annotation.models import Submission

    sign_in(page, live_server.url, "anna")
    page.goto(live_server.url + reverse("submission_new"))
    seen = record_tus_requests(page)
    page.locator("[data-dropzone]").evaluate(DROP_FILE)
    expect(page.locator("[data-file-name]")).to_contain_text("dropped.jsonl")
    page.get_by_role("button", name="Upload and check").click()  # no language, licence, source or consent

    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(page.locator("#id_consent_error")).to_be_visible()
    expect(page.locator("#id_language")).to_have_attribute("aria-invalid", "true")
    expect(page).to_have_url(re.compile(r"/submissions/new/$"))
    # The dropped file went ahead and is kept: the corrected form needs no file again.
    kept = re.compile(r"^Already uploaded, no need to choose it again: dropped\.jsonl")
    expect(page.locator("[data-file-name]")).to_have_text(kept)
    page.locator("#id_language").select_option("de")
    page.locator("#id_kind").select_option("pretraining")
    page.locator("#id_license").select_option("CC-BY-4.0")
    page.locator("#id_source").fill("A greeting.")
    page.locator("#id_consent").check()
    # The replaced form still posts through the script.
    page.get_by_role("button", name="Upload and check").click()
    page.wait_for_url(re.compile(r"/submissions/\d+/$"))
    expect(page.get_by_role("heading", name="dropped.jsonl")).to_be_visible()
    assert [method for method, _, _ in seen] == ["POST", "PATCH"]  # sent once
    wait_until(page, lambda: Submission.objects.get().is_finished, timeout_ms=60_000)  # before the database goes


# ---- resumable uploads (tus, /api/uploads/) --------------------------------

SLICE = 64 * 1024


def write_documents(path, n, seed=0):
    docs = documents(n, seed=seed)
    path.write_text("".join(json.dumps({"text": text}, ensure_ascii=False) + "\n" for text in docs))
    return docs


def fill_and_choose(page, base_url, data, slice_bytes=None):
    """Sign in and fill the upload form with ``data``; ``slice_bytes`` overrides the 8 MiB slices."""
    sign_in(page, base_url, "anna")
    page.goto(base_url + reverse("submission_new"))
    if slice_bytes:
        page.locator("[data-upload]").evaluate("(root, n) => { root.dataset.sliceBytes = String(n); }", slice_bytes)
    page.locator("#id_language").select_option("de")
    page.locator("#id_kind").select_option("pretraining")
    page.locator("#id_license").select_option("CC-BY-4.0")
    page.locator("#id_source").fill("Articles from our municipal newsletter, written by staff.")
    page.locator("#id_file").set_input_files(str(data))
    page.locator("#id_consent").check()


def record_tus_requests(page):
    """(method, URL, Upload-Offset) of every request to the upload endpoint."""
    seen = []

    def note(request):
        if "/api/uploads/" in request.url:
            seen.append((request.method, request.url, request.headers.get("upload-offset")))

    page.on("request", note)
    return seen


def assert_stored_as_sent(data, docs):
    from django.core.files.storage import default_storage

    from annotation.models import Record, Submission, Upload
    from annotation.text_selectors import records_text_read

    submission = Submission.objects.get()
    assert submission.original_name == data.name
    assert submission.size_bytes == data.stat().st_size
    assert (submission.records_read, submission.records_accepted) == (len(docs), len(docs))
    records = list(Record.objects.filter(submission=submission).order_by("line"))
    contents = records_text_read(records)  # pretraining text is in the chunk's record file
    assert [contents[record.pk]["text"] for record in records] == docs  # every byte arrived, in order
    assert not default_storage.exists(submission.file.name)  # the original goes once its records are stored
    assert not Upload.objects.exists()  # used up by the submission


def expect_ready(page, accepted):
    from playwright.sync_api import expect

    page.wait_for_url(re.compile(r"/submissions/\d+/$"))
    expect(page.locator("[data-status-badge] .badge")).to_have_text("Ready", timeout=60_000)
    expect(page.locator('[data-figure="records_accepted"]')).to_have_text(str(accepted))


def test_upload_survives_a_dropped_connection(page, live_server, celery_worker, member_a, german, tmp_path):
    from playwright.sync_api import expect

    data = tmp_path / "newsletter.jsonl"
    docs = write_documents(data, 200, seed=1)
    fill_and_choose(page, live_server.url, data)
    seen = record_tus_requests(page)

    dropped = []

    def drop_first_patch(route):
        if route.request.method == "PATCH" and not dropped:
            dropped.append(route.request.headers.get("upload-offset"))
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/uploads/*/", drop_first_patch)
    page.get_by_role("button", name="Upload and check").click()
    expect(page.locator("[data-upload-label]")).to_have_text("Connection lost — retrying in 1 s…")
    screenshot(page, "upload-retrying")
    expect_ready(page, len(docs))

    assert dropped == ["0"]
    methods = [method for method, _, _ in seen]
    assert methods[:2] == ["POST", "PATCH"]  # created, then the first piece, dropped
    assert methods[2:] == ["HEAD", "PATCH"]  # asked for the offset, sent it again
    assert_stored_as_sent(data, docs)


def test_upload_is_sent_in_slices_then_submitted_with_its_id(
    page, live_server, celery_worker, member_a, german, tmp_path
):
    data = tmp_path / "big.jsonl"
    docs = write_documents(data, 600, seed=2)
    size = data.stat().st_size
    assert size > 4 * SLICE
    fill_and_choose(page, live_server.url, data, slice_bytes=SLICE)
    seen = record_tus_requests(page)
    posted = []
    page.on("request", lambda request: request.url.endswith(reverse("submission_new")) and posted.append(request))

    page.get_by_role("button", name="Upload and check").click()
    expect_ready(page, len(docs))

    patches = [int(offset) for method, _, offset in seen if method == "PATCH"]
    assert patches == list(range(0, size, SLICE))  # every slice once, in order
    assert [method for method, _, _ in seen].count("POST") == 1
    form = posted[0].post_data
    assert 'name="upload"' in form and 'name="file"' not in form  # the id, not the file again
    assert_stored_as_sent(data, docs)


def test_refused_piece_shows_the_server_message_and_pressing_again_resumes(
    page, live_server, celery_worker, member_a, german, tmp_path
):
    from playwright.sync_api import expect

    data = tmp_path / "resumed.jsonl"
    docs = write_documents(data, 300, seed=3)
    fill_and_choose(page, live_server.url, data, slice_bytes=SLICE)
    seen = record_tus_requests(page)

    def refuse_second_patch(route):
        if route.request.method == "PATCH" and route.request.headers.get("upload-offset") != "0":
            route.fulfill(status=403, json={"detail": "Your session has expired."})
        else:
            route.continue_()

    page.route("**/api/uploads/*/", refuse_second_patch)
    button = page.get_by_role("button", name="Upload and check")
    button.click()
    expect(page.locator("[data-upload-error]")).to_have_text("Your session has expired.")
    expect(button).to_be_enabled()

    page.unroute("**/api/uploads/*/")
    del seen[:]
    button.click()  # the same file: the upload goes on where it stopped
    expect_ready(page, len(docs))
    assert [(method, offset) for method, _, offset in seen[:2]] == [("HEAD", None), ("PATCH", str(SLICE))]
    assert "POST" not in [method for method, _, _ in seen]
    assert_stored_as_sent(data, docs)


def test_too_large_file_shows_the_server_limit(page, live_server, member_a, german, tmp_path, settings):
    from playwright.sync_api import expect

    settings.INGEST = {**settings.INGEST, "MAX_UPLOAD_BYTES": 1000}
    data = tmp_path / "huge.jsonl"
    write_documents(data, 20)
    fill_and_choose(page, live_server.url, data)
    button = page.get_by_role("button", name="Upload and check")
    button.click()
    expect(page.locator("[data-upload-error]")).to_contain_text("the limit is 1000 bytes")
    expect(button).to_be_enabled()
    expect(page).to_have_url(re.compile(r"/submissions/new/$"))


def test_cancel_stops_the_upload_and_deletes_it_on_the_server(page, live_server, member_a, german, tmp_path):
    from playwright.sync_api import expect

    from annotation.models import Upload

    data = tmp_path / "cancelled.jsonl"
    write_documents(data, 50)
    fill_and_choose(page, live_server.url, data)
    seen = record_tus_requests(page)
    held = []

    def hold_patch(route):
        if route.request.method == "PATCH":
            held.append(route)
        else:
            route.continue_()

    page.route("**/api/uploads/*/", hold_patch)
    page.get_by_role("button", name="Upload and check").click()
    wait_until(page, lambda: held)
    assert Upload.objects.count() == 1
    screenshot(page, "upload-cancel")
    page.get_by_role("button", name="Cancel upload").click()
    expect(page.locator("[data-upload-label]")).to_have_text("Upload cancelled.")
    expect(page.get_by_role("button", name="Upload and check")).to_be_enabled()
    expect(page.get_by_role("button", name="Cancel upload")).to_be_hidden()
    wait_until(page, lambda: not Upload.objects.exists())
    assert [method for method, _, _ in seen] == ["POST", "PATCH", "DELETE"]


def test_without_javascript_the_form_posts_the_file(browser, live_server, celery_worker, member_a, german, tmp_path):
    from annotation.models import Submission

    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        data = tmp_path / "plain.jsonl"
        docs = write_documents(data, 5, seed=4)
        fill_and_choose(page, live_server.url, data)
        page.get_by_role("button", name="Upload and check").click()
        page.wait_for_url(re.compile(r"/submissions/\d+/$"))
        wait_until(page, lambda: Submission.objects.get().is_finished, timeout_ms=60_000)
        assert Submission.objects.get().records_accepted == len(docs)
    finally:
        context.close()

