"""A partner opens a figure's lines on the submission page, in German, and withdraws two of them."""

import re
import shutil

import pytest
from django.urls import reverse

from annotation.models import Record
from tests.browser.conftest import CHROMIUM, screenshot
from tests.conftest import PASSWORD
from tests.web.conftest import add_record, make_submission
from training.models import Withdrawal

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian's chromium is not installed"),
]


def test_a_partner_withdraws_two_lines_of_a_figure_in_german(
    browser, live_server, transactional_db, member_a, partner_a, german
):
    from playwright.sync_api import expect

    submission = make_submission(partner=partner_a, uploader=member_a, language=german, language_mismatches=3)
    for line in (2, 5, 9):
        add_record(submission, line, f"Hello {line}", language_mismatch=True, detected_language="en")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": "django_language", "value": "de", "url": live_server.url}])
    page = context.new_page()

    page.goto(live_server.url + reverse("login"))
    page.locator("#id_username").fill(member_a.username)
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(re.compile(r"/dashboard/$"))
    page.goto(live_server.url + reverse("submission_detail", args=[submission.pk]))
    page.get_by_role("link", name=re.compile(r"^Abweichende Sprache \(3\)")).click()

    lines = page.locator("[data-figure-lines='language_mismatches']")
    expect(lines.locator("tbody tr")).to_have_count(3)
    expect(lines).to_contain_text("Sieht aus wie en")
    page.get_by_label("Zeile 2 auswählen").check()
    page.get_by_label("Zeile 9 auswählen").check()
    screenshot(page, "submission-lines-de")
    page.get_by_role("button", name="Ausgewählte Zeilen zurückziehen").click()
    page.wait_for_url(re.compile(r"/withdrawals/$"))
    context.close()

    assert sorted(w.record.line for w in Withdrawal.objects.filter(submission=submission)) == [2, 9]
    assert set(submission.records.filter(status=Record.Status.WITHDRAWN).values_list("line", flat=True)) == {2, 9}
