"""Staff, in French, register a base model and upload an evaluation suite from the portal's pages.

Drives Debian's Chromium through Playwright against the live server.
"""

import json
import re
import shutil

import pytest
from django.urls import reverse

from tests.browser.conftest import CHROMIUM, refused_by_policy, screenshot
from tests.conftest import PASSWORD, language, make_user
from training.models import BaseModel, EvaluationSuite

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian's chromium is not installed"),
]


def test_staff_register_a_base_model_and_upload_a_suite_in_french(browser, live_server, transactional_db, tmp_path):
    from playwright.sync_api import expect

    make_user("sam", staff=True)
    language("fr")
    suite_file = tmp_path / "fr.jsonl"
    item = {"question": "Quelle est la capitale de la France ?", "choices": ["Paris", "Lyon"], "answer": 0}
    suite_file.write_text(json.dumps(item, ensure_ascii=False) + "\n" + json.dumps({"text": "Un texte."}) + "\n")

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": "django_language", "value": "fr", "url": live_server.url}])
    refused = refused_by_policy(context)
    page = context.new_page()
    page.goto(live_server.url + reverse("login"))
    page.locator("#id_username").fill("sam")
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(re.compile(r"/dashboard/$"))

    page.goto(live_server.url + reverse("run_new"))
    page.get_by_role("link", name="page des modèles de base").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Modèles de base")
    page.get_by_label("Nom", exact=True).first.fill("mistral")
    page.get_by_label("Identifiant du Hub ou dossier").fill("mistralai/Mistral-7B-v0.1")
    page.get_by_label("Révision (commit ou tag)").fill("abc123")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_role("status")).to_contain_text("Le modèle de base mistral est enregistré.")
    expect(page.get_by_role("button", name="Créer le mini-modèle")).to_be_visible()
    screenshot(page, "base-models-fr")

    page.goto(live_server.url + reverse("suite_list"))
    page.get_by_label("Nom", exact=True).fill("quiz")
    page.get_by_label("Provenance").select_option("human-translated")
    page.get_by_label("Fichiers ou archive").set_input_files(str(suite_file))
    page.get_by_role("button", name="Téléverser la suite").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("quiz")
    row = page.locator('tr[data-language="fr"]')
    expect(row.locator("[data-n-items]")).to_have_text("1")
    expect(row.locator("[data-n-docs]")).to_have_text("1")
    screenshot(page, "suite-fr")
    context.close()

    assert not refused, refused
    assert BaseModel.objects.get(name="mistral").revision == "abc123"
    assert EvaluationSuite.objects.get(name="quiz").provenance == "human-translated"
