"""An annotator works a queue with keyboard shortcuts only; the language lead adjudicates.

Drives Debian's Chromium through Playwright against the live server.
"""

import re
import shutil

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from annotation.models import Annotation, ReviewDecision
from annotation.services.review import certification_grant, queue_create, review_item_claim, review_submit
from tests.annotation.conftest import bare_submission, make_lead, make_records
from tests.browser.conftest import CHROMIUM, screenshot, sign_in
from tests.conftest import language, make_user

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian's chromium is not installed"),
]


def _page(browser, **viewport):
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900})
    return context, context.new_page()


@pytest.fixture
def queue(transactional_db, partner_a, member_a, staff):
    german = language("de")
    lead = make_lead("lena", german)
    submission = bare_submission(partner=partner_a, uploader=member_a, language=german)
    make_records(submission, 5)
    for name in ("ulla", "udo"):
        certification_grant(granter=lead, user=make_user(name), language_code="de")
    return queue_create(
        creator=lead, language=german, kind="instruction", name="Deutsch: Anweisungen",
        guidelines="## Richtlinien\n\n* Antworten müssen **stimmen**.", rating_scales=["fluency", "correctness"],
    )


def _wait_for_next_item(page, seen):
    """Wait until the page shows an item other than those in ``seen``; return its record id."""
    page.wait_for_function(
        "seen => { const el = document.querySelector('[data-record]'); return el && !seen.includes(el.dataset.record); }",
        arg=seen,
    )
    record = page.locator("[data-record]").get_attribute("data-record")
    seen.append(record)
    return record


def test_annotator_works_with_the_keyboard_and_the_lead_adjudicates(browser, live_server, queue):
    from playwright.sync_api import expect

    context, page = _page(browser)
    sign_in(page, live_server.url, "ulla")
    page.get_by_role("link", name="Review").first.click()
    page.get_by_role("link", name="Deutsch: Anweisungen").click()
    screenshot(page, "review-queue")
    page.get_by_role("button", name="Start reviewing").focus()
    page.keyboard.press("Enter")
    seen = []
    _wait_for_next_item(page, seen)
    expect(page.get_by_role("heading", name="Keyboard shortcuts")).to_be_visible()
    expect(page.locator(".guidelines strong")).to_have_text("stimmen")
    screenshot(page, "review-work")

    page.keyboard.press("4")
    page.keyboard.press("5")
    page.keyboard.press("a")  # accept, rated 4 and 5
    _wait_for_next_item(page, seen)
    page.keyboard.press("r")
    page.keyboard.type("Die Antwort ist falsch.")
    page.keyboard.press("Enter")  # reject with that reason
    _wait_for_next_item(page, seen)
    page.keyboard.press("e")
    page.keyboard.press("Control+A")
    page.keyboard.type("Eine bessere Antwort.")
    page.keyboard.press("Control+Enter")  # save the edit
    _wait_for_next_item(page, seen)
    page.keyboard.press("f")
    page.keyboard.press("Space")  # tick the first flag: wrong language
    page.keyboard.press("Enter")
    _wait_for_next_item(page, seen)
    page.keyboard.press("s")
    # Her edit is a new record of hers in the queue: the page says why it is not offered.
    expect(page.locator(".messages")).to_contain_text("Nothing left for you in this queue. 1 open item is yours")
    expect(page.locator('[data-annotator="ulla"] td').first).to_have_text("5")
    screenshot(page, "review-queue-after")
    context.close()

    answers = {a.action: a for a in Annotation.objects.filter(annotator__username="ulla")}
    assert sorted(answers) == ["accept", "edit", "flag", "reject", "skip"]
    assert answers["accept"].ratings == {"fluency": 4, "correctness": 5}
    assert answers["reject"].reason == "Die Antwort ist falsch."
    assert answers["flag"].flags == ["wrong_language"]
    assert answers["edit"].edited_content["response"] == "Eine bessere Antwort."

    # A second annotator accepts everything: the reject, the edit and the flag become disputes.
    udo = get_user_model().objects.get(username="udo")
    while (assignment := review_item_claim(queue=queue, annotator=udo)) is not None:
        review_submit(assignment=assignment, action="accept")
    assert ReviewDecision.objects.filter(outcome="disputed").count() == 3

    context, page = _page(browser)
    sign_in(page, live_server.url, "lena")
    page.goto(live_server.url + reverse("review_queues"))
    page.get_by_role("link", name=re.compile("3 disputed records to decide")).click()
    expect(page.locator("[data-decision]")).to_have_count(3)
    screenshot(page, "review-adjudication")
    first = page.locator("[data-decision]").first
    first.get_by_label("Note").fill("Die Ablehnung stimmt.")
    first.get_by_role("button", name="Reject the record").click()
    expect(page.locator(".message-success")).to_contain_text("rejected")
    expect(page.locator("[data-decision]")).to_have_count(2)
    context.close()
    assert ReviewDecision.objects.filter(adjudicated_by__username="lena", outcome="rejected").count() == 1


def test_a_reject_without_reason_returns_to_the_reason_field(browser, live_server, queue):
    from playwright.sync_api import expect

    context, page = _page(browser)
    sign_in(page, live_server.url, "ulla")
    assignment = review_item_claim(queue=queue, annotator=get_user_model().objects.get(username="ulla"))
    page.goto(live_server.url + reverse("review_item", args=[assignment.pk]))
    page.keyboard.press("r")
    page.keyboard.press("Enter")  # no reason typed
    expect(page.locator("[data-error-summary]")).to_be_visible()
    expect(page.locator("[name=reason]")).to_be_focused()
    page.keyboard.type("a")  # types, does not accept
    expect(page.locator("[name=reason]")).to_have_value("a")
    context.close()
    assert not Annotation.objects.filter(annotator__username="ulla").exists()


def test_work_page_fits_a_phone(browser, live_server, queue):
    context, page = _page(browser, width=390, height=844)
    sign_in(page, live_server.url, "ulla")
    assignment = review_item_claim(queue=queue, annotator=get_user_model().objects.get(username="ulla"))
    page.goto(live_server.url + reverse("review_item", args=[assignment.pk]))
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    accept = page.get_by_role("button", name="Accept")
    assert accept.bounding_box()["height"] >= 40  # big enough to tap
    screenshot(page, "review-phone")
    context.close()
