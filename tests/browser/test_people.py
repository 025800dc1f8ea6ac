"""A partner admin invites someone from the People page, in German; the invitee accepts and lands signed in.

Drives Debian's Chromium through Playwright against the live server.
"""

import re
import shutil

import pytest
from django.core import mail
from django.urls import reverse

from occiportal.models import PartnerMembership
from tests.browser.conftest import CHROMIUM, screenshot
from tests.conftest import PASSWORD, make_user

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian's chromium is not installed"),
]


def _german_page(browser, base_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": "django_language", "value": "de", "url": base_url}])
    return context, context.new_page()


def test_a_partner_admin_invites_and_the_invitee_accepts_in_german(browser, live_server, transactional_db, partner_a):
    from playwright.sync_api import expect

    admin = make_user("ada", partner=partner_a)
    PartnerMembership.objects.filter(user=admin).update(role=PartnerMembership.Role.ADMIN)

    context, page = _german_page(browser, live_server.url)
    page.goto(live_server.url + reverse("login"))
    page.locator("#id_username").fill("ada")
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(re.compile(r"/dashboard/$"))
    page.get_by_role("link", name="Personen").click()
    page.get_by_label("E-Mail-Adresse").fill("neu@example.org")
    page.get_by_label("Rolle").select_option("member")
    page.get_by_label("Partner:", exact=True).select_option("alpha")
    expect(page.get_by_label("Sprache der E-Mail")).to_have_value("de")
    screenshot(page, "people-de")
    page.get_by_role("button", name="Einladung senden").click()
    expect(page.get_by_role("status")).to_contain_text("Einladung an neu@example.org gesendet.")
    context.close()

    assert mail.outbox[0].subject == "Ihre Einladung zu Occiportal"
    link = re.search(r"https?://\S+/invitations/\S+/", mail.outbox[0].body).group(0)

    context, page = _german_page(browser, live_server.url)
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Ihre Einladung")
    page.locator("#id_username").fill("nina")
    page.locator("#id_password1").fill("a-long-and-unusual-passphrase")
    page.locator("#id_password2").fill("a-long-and-unusual-passphrase")
    page.get_by_role("button", name="Einladung annehmen").click()
    page.wait_for_url(re.compile(r"/dashboard/$"))
    expect(page.get_by_role("status")).to_contain_text("Willkommen! Ihre Einladung ist angenommen.")
    expect(page.locator(".user-name")).to_contain_text("nina")
    context.close()

    assert PartnerMembership.objects.get(user__username="nina").partner == partner_a
