"""An annotator judges two preference pairs from the keyboard, in French.

Drives Debian's Chromium through Playwright against the live server.
"""

import hashlib
import re
import shutil

import pytest
from django.urls import reverse

from annotation.models import Annotation, Record
from annotation.services.review import certification_grant, queue_create
from tests.annotation.conftest import bare_submission, make_lead
from tests.browser.conftest import CHROMIUM, PASSWORD, screenshot
from tests.conftest import language, make_user

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian's chromium is not installed"),
]

PAIRS = [
    {"prompt": "Quelle heure est-il ?", "chosen": "Il est huit heures.", "rejected": "Aucune idée."},
    {"prompt": "Nomme une couleur.", "chosen": "Bleu.", "rejected": "J’aime le fromage."},
]


@pytest.fixture
def queue(transactional_db, partner_a, member_a):
    french = language("fr")
    lead = make_lead("lea", french)
    submission = bare_submission(partner=partner_a, uploader=member_a, language=french, kind="preference")
    for line, content in enumerate(PAIRS, 1):
        Record.objects.create(
            submission=submission, line=line, language=french, kind="preference", content=content,
            content_hash=hashlib.md5(f"{submission.pk}:{line}".encode()).hexdigest(),
        )
    certification_grant(granter=lead, user=make_user("ulla"), language_code="fr")
    return queue_create(creator=lead, language=french, kind="preference", name="Français : préférences")


def test_annotator_judges_two_pairs_from_the_keyboard_in_french(browser, live_server, queue):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": "django_language", "value": "fr", "url": live_server.url}])
    page = context.new_page()
    page.goto(live_server.url + reverse("login"))
    page.locator("#id_username").fill("ulla")
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(re.compile(r"/dashboard/$"))

    page.goto(live_server.url + reverse("review_queue", args=[queue.pk]))
    page.get_by_role("button", name="Commencer la relecture").click()
    expect(page.get_by_role("heading", name="Raccourcis clavier")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Égalité"))).to_be_visible()
    first = page.locator("[data-record]").get_attribute("data-record")
    screenshot(page, "review-preference-fr")
    page.keyboard.press("1")  # the response shown first is the better one
    page.wait_for_function(
        "first => { const el = document.querySelector('[data-record]'); return el && el.dataset.record !== first; }",
        arg=first,
    )
    page.keyboard.press("t")  # a tie
    expect(page.get_by_text("Il ne reste plus rien pour vous dans cette file. Merci !")).to_be_visible()

    picked, tied = Annotation.objects.select_related("assignment").order_by("pk")
    assert picked.record_id == int(first)
    assert picked.judgement == {"type": "best", "best": picked.assignment.shown_order[0], "count": 2}
    assert tied.judgement == {"type": "tie"}
    context.close()
