"""A running run's page follows it: the status, progress, loss chart and latest events update without a reload.

Drives Debian's Chromium through Playwright against the live server; the
events a GPU worker sends are recorded server-side while the page is open.
"""

import shutil

import pytest
from django.urls import reverse

from tests.browser.conftest import CHROMIUM, screenshot, sign_in
from tests.conftest import make_user
from tests.training.run_helpers import make_run
from training.jobs.contract import Done, Progress, Start
from training.services.run_events import run_event_record

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian's chromium is not installed"),
]


def record(run, seq, event):
    assert run_event_record(run_id=run.job_id, seq=seq, event=event.to_dict())


def test_the_run_page_follows_a_running_run_without_reloading(page, live_server, transactional_db, settings, tmp_path):
    from playwright.sync_api import expect

    settings.DATA_DIR = tmp_path / "data"
    make_user("sam", staff=True)
    run = make_run()  # its job waits on ``gpu``, consumed only within ``gpu_worker``: the events come from here
    record(run, 0, Start(attempt=1, kind="train", total_steps=4))
    sign_in(page, live_server.url, "sam")
    page.set_viewport_size({"width": 1280, "height": 500})
    page.goto(live_server.url + reverse("run_detail", args=[run.pk]))
    badge = page.locator(".page-head .badge")
    expect(badge).to_have_text("Running")
    expect(page.locator("[data-run-following]")).to_be_visible()
    page.evaluate("document.body.dataset.unreloaded = 'yes'")  # gone if the page reloads
    page.get_by_label("Compare with run").fill("7")  # what someone types stays while the page updates
    page.evaluate("window.scrollTo(0, 300)")

    record(run, 1, Progress(attempt=1, step=1, loss=3.5))
    record(run, 2, Progress(attempt=1, step=2, total_steps=4, loss=2.5, tokens_per_second=800.0, eta_seconds=30.0))
    progress = page.locator("[data-live=progress]")
    expect(progress).to_contain_text("Step 2 of 4", timeout=20_000)
    expect(progress).to_contain_text("800 tokens/s")
    expect(progress).to_contain_text("ETA 30 s")
    expect(page.locator("[data-loss-max]")).to_have_text("3.5000")
    expect(page.locator("[data-event]")).to_have_count(3)
    expect(page.locator("[data-event]").first).to_contain_text("Step 2 of 4")
    expect(page.get_by_label("Compare with run")).to_have_value("7")
    assert page.evaluate("document.body.dataset.unreloaded") == "yes" and page.evaluate("window.scrollY") > 0
    screenshot(page, "run-following")

    record(run, 3, Done(attempt=1, steps=4, final_loss=1.75))
    expect(badge).to_have_text("Succeeded", timeout=20_000)
    expect(page.locator("[data-cancel]")).to_have_count(0)
    expect(page.get_by_role("button", name="Publish")).to_be_visible()
    expect(page.locator("[data-event]").first).to_contain_text("Finished")
    expect(page.locator("[data-run-following]")).to_be_hidden()  # it stopped polling
    assert page.evaluate("document.body.dataset.unreloaded") == "yes"
