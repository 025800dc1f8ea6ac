"""The whole tour, one test per role, each in German or French (issue 13).

Partner admin: invite a member, upload, see the lines behind a figure, withdraw.
Annotator: review a queue. Language lead: adjudicate the disputes. Staff: build
a snapshot, register a suite and a base model, build the tiny model, start a run and watch it train, publish
it, re-run, cancel and compare, and withdraw it from publication. Drives Debian's Chromium through Playwright
against the live server; ingest, the tiny model and the run's training go through real Celery workers.
"""

import json
import re
import shutil

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from annotation.models import Record, ReviewDecision
from annotation.services.review import certification_grant, queue_create, review_item_claim, review_submit
from occiportal.models import PartnerMembership
from tests.annotation.conftest import bare_submission, make_lead, make_records
from tests.annotation.texts import documents
from tests.browser.conftest import CHROMIUM, refused_by_policy, screenshot
from tests.training.conftest import corpus, ingested  # noqa: F401  (fixtures)
from tests.conftest import PASSWORD, language, make_user, wait_for
from training.models import Withdrawal

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian's chromium is not installed"),
]

SIGN_IN = {"de": "Anmelden", "fr": "Se connecter"}


@pytest.fixture
def open_as(browser, live_server):
    """Sign ``username`` in, in ``language``, on a fresh context; the context is closed and checked for CSP refusals."""
    opened = []

    def open_as(username, language):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
        opened.append((context, refused_by_policy(context)))
        page = context.new_page()
        page.goto(live_server.url + reverse("login"))
        page.locator("#id_username").fill(username)
        page.locator("#id_password").fill(PASSWORD)
        page.get_by_role("button", name=SIGN_IN[language]).click()
        page.wait_for_url(re.compile(r"/dashboard/$"))
        return page

    yield open_as
    for context, refused in opened:
        context.close()
        assert not refused, refused


def test_partner_admin_tour_in_german(open_as, live_server, celery_worker, partner_a, german, tmp_path):
    from playwright.sync_api import expect

    admin = make_user("ada", partner=partner_a)
    PartnerMembership.objects.filter(user=admin).update(role=PartnerMembership.Role.ADMIN)
    texts = documents(3)
    texts[1] += " Schreiben Sie an anna.muster@example.org."
    data = tmp_path / "gemeinde.jsonl"
    data.write_text("".join(json.dumps({"text": text}, ensure_ascii=False) + "\n" for text in texts))
    page = open_as("ada", "de")

    page.get_by_role("link", name="Personen").click()
    page.get_by_label("E-Mail-Adresse").fill("neu@example.org")
    page.get_by_label("Rolle").select_option("member")
    page.get_by_label("Partner:", exact=True).select_option("alpha")
    page.get_by_role("button", name="Einladung senden").click()
    expect(page.get_by_role("status")).to_contain_text("Einladung an neu@example.org gesendet.")

    page.get_by_role("link", name="Neue Einreichung").first.click()
    page.locator("#id_language").select_option("de")
    page.locator("#id_kind").select_option("pretraining")
    page.locator("#id_license").select_option("CC-BY-4.0")
    page.locator("#id_source").fill("Artikel aus unserem Gemeindeblatt.")
    page.locator("#id_file").set_input_files(str(data))
    page.locator("#id_consent").check()
    page.get_by_role("button", name="Hochladen und prüfen").click()
    page.wait_for_url(re.compile(r"/submissions/\d+/$"))
    expect(page.locator("[data-status-badge] .badge")).to_have_text("Fertig", timeout=60_000)
    # The page reloads itself once the checks are done and then offers the lines behind each figure.

    page.get_by_role("link", name=re.compile(r"^Geschwärzte personenbezogene Daten \(1\)")).click()
    lines = page.locator("[data-figure-lines='pii_redactions']")
    expect(lines.locator("tbody tr")).to_have_count(1)
    screenshot(page, "tour-partner-lines-de")

    # A line that names no record is answered beside the field, not at the top of the page.
    page.get_by_label("Zeile (optional)").fill("99")
    page.get_by_role("button", name="Zurückziehen", exact=True).click()
    expect(page.locator("#withdraw-line-error")).to_have_text("Zeile 99 enthält keinen Datensatz dieser Einreichung.")
    expect(page.get_by_label("Zeile (optional)")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Zeile (optional)").fill("2")
    page.get_by_role("button", name="Zurückziehen", exact=True).click()
    page.wait_for_url(re.compile(r"/withdrawals/$"))
    expect(page.get_by_role("status")).to_contain_text("Zurückgezogen")
    screenshot(page, "tour-partner-withdrawals-de")

    withdrawal = Withdrawal.objects.get()
    assert withdrawal.record.line == 2 and withdrawal.record.status == Record.Status.WITHDRAWN


@pytest.fixture
def disputed_queue(transactional_db, partner_a, member_a):
    """A German instruction queue of two records, both already accepted by a second annotator."""
    german = language("de")
    lead = make_lead("lena", german)
    make_records(bare_submission(partner=partner_a, uploader=member_a, language=german), 2)
    for name in ("ulla", "udo"):
        certification_grant(granter=lead, user=make_user(name), language_code="de")
    queue = queue_create(creator=lead, language=german, kind="instruction", name="Deutsch: Anweisungen",
                         guidelines="Antworten müssen stimmen.", rating_scales=["fluency"])  # fmt: skip
    udo = get_user_model().objects.get(username="udo")
    while (assignment := review_item_claim(queue=queue, annotator=udo)) is not None:
        review_submit(assignment=assignment, action="accept")
    return queue


def test_annotator_tour_in_german(open_as, disputed_queue):
    from playwright.sync_api import expect

    page = open_as("ulla", "de")
    page.get_by_role("link", name="Begutachtung").first.click()
    page.get_by_role("link", name="Deutsch: Anweisungen").click()
    page.get_by_role("button", name="Mit der Prüfung beginnen").click()
    expect(page.locator("[data-record]")).to_be_visible()
    page.get_by_role("button", name="Annehmen").click()
    expect(page.locator("[data-record]")).to_be_visible()
    page.keyboard.press("r")
    page.keyboard.type("Die Antwort ist falsch.")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Deutsch: Anweisungen")).to_be_visible()
    screenshot(page, "tour-annotator-de")
    assert ReviewDecision.objects.filter(outcome="disputed").count() == 1


def test_language_lead_tour_in_french(open_as, live_server, disputed_queue):
    from playwright.sync_api import expect

    ulla = get_user_model().objects.get(username="ulla")
    review_submit(assignment=review_item_claim(queue=disputed_queue, annotator=ulla), action="reject", reason="Faux.")
    page = open_as("lena", "fr")
    page.get_by_role("link", name="Relecture").first.click()
    page.get_by_role("link", name=re.compile("1 enregistrement contesté")).click()
    decision = page.locator("[data-decision]")
    expect(decision).to_have_count(1)
    decision.get_by_label("Note").fill("Le refus est juste.")
    decision.get_by_role("button", name="Rejeter l’enregistrement").click()
    expect(page.locator(".message-success")).to_be_visible()
    expect(page.locator("[data-decision]")).to_have_count(0)
    screenshot(page, "tour-lead-fr")
    assert ReviewDecision.objects.get(adjudicated_by__username="lena").outcome == "rejected"


def test_staff_tour_in_french(open_as, live_server, gpu_worker, corpus, settings, tmp_path):
    """The run trains for real: the tiny model is built from its page, and the ``gpu`` worker (the Django-free
    GPU app, tests/conftest.py) runs the job as a child process on the CPU while the open run page follows it."""
    from playwright.sync_api import expect

    from training.models import BaseModel, EvaluationSuite, TrainingRun

    settings.DATA_DIR = tmp_path / "data"  # snapshots, suites, models and checkpoints, not left behind for the next test
    make_user("sam", staff=True)
    suite_file = tmp_path / "fr.jsonl"
    suite_file.write_text(json.dumps({"question": "Le chat dort au", "choices": ["soleil", "fer"], "answer": 0}) + "\n")
    page = open_as("sam", "fr")

    page.goto(live_server.url + reverse("snapshot_list"))
    page.get_by_role("link", name="Nouvel instantané").click()
    page.locator("#id_name").fill("tour")
    for code in ("de", "fr"):
        page.locator(f"#id_languages input[value={code}]").check()
    page.locator("#id_license").select_option("CC-BY-4.0")
    page.get_by_role("button", name="Générer").click()
    page.wait_for_url(re.compile(r"/snapshots/\d+/$"))
    expect(page.locator("[data-status-badge] .badge")).to_have_text("Prêt", timeout=60_000)
    screenshot(page, "tour-staff-snapshot-fr")

    page.goto(live_server.url + reverse("suite_list"))
    page.get_by_label("Nom", exact=True).fill("quiz")
    page.get_by_label("Provenance").select_option("human-translated")
    page.get_by_label("Fichiers ou archive").set_input_files(str(suite_file))
    page.get_by_role("button", name="Téléverser la suite").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("quiz")

    page.goto(live_server.url + reverse("base_model_list"))
    page.get_by_label("Nom", exact=True).first.fill("petit")
    page.get_by_label("Identifiant du Hub ou dossier").fill("mistralai/Mistral-7B-v0.1")
    page.get_by_label("Révision (commit ou tag)").fill("abc123")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_role("status")).to_contain_text("Le modèle de base petit est enregistré.")
    page.get_by_role("button", name="Créer le mini-modèle").click()
    wait_for(lambda: BaseModel.objects.filter(name="tiny").exists(), timeout=120)  # built by the default worker
    page.reload()
    expect(page.locator("[data-base-model=tiny]")).to_be_visible()

    page.goto(live_server.url + reverse("run_new"))
    page.locator("#id_snapshot").select_option(label="tour@1")
    page.locator("#id_base_model").select_option(label="tiny")
    page.locator("#id_max_steps").fill("2")
    page.locator("#id_batch_size").fill("2")
    page.locator("#id_seq_len").fill("32")
    page.get_by_role("button", name="Lancer l’entraînement").click()
    page.wait_for_url(re.compile(r"/runs/\d+/$"))
    run = TrainingRun.objects.get()
    # The page follows the run without a reload until the GPU worker's job has finished.
    expect(page.locator(".page-head .badge")).to_have_text("Réussie", timeout=120_000)
    expect(page.locator("[data-live=progress]")).to_contain_text("Étape 2 sur 2")
    expect(page.locator("[data-loss-max]")).to_have_text(re.compile(r"^\d+,\d{4}$"))  # French decimals
    expect(page.locator("[data-event]").first).to_contain_text("Terminée")
    screenshot(page, "tour-staff-run-fr")
    page.get_by_role("button", name="Publier").click()
    expect(page.locator("[data-unpublish]")).to_be_visible()

    page.get_by_role("button", name="Relancer depuis le manifeste").click()
    page.wait_for_url(re.compile(r"/runs/\d+/$"))
    again = TrainingRun.objects.exclude(pk=run.pk).get()
    assert page.url.endswith(reverse("run_detail", args=[again.pk]))
    # Not trained twice here: staff cancel the re-run from its page (the GPU worker stops or skips its job).
    page.get_by_label("Arrêter l’exécution maintenant").check()
    page.get_by_role("button", name="Annuler l’exécution").click()
    expect(page.locator(".page-head .badge")).to_have_text("Annulée")
    page.get_by_label("Comparer avec l’exécution").fill(str(run.pk))
    page.get_by_role("button", name="Comparer", exact=True).click()
    page.wait_for_url(re.compile(r"/compare/"))
    expect(page.locator('[data-key="job_spec.run_id"]')).to_be_visible()
    screenshot(page, "tour-staff-compare-fr")

    page.goto(live_server.url + reverse("run_detail", args=[run.pk]))
    page.get_by_label("Retirer l’entraînement du classement").check()
    page.get_by_role("button", name="Dépublier").click()
    expect(page.get_by_role("button", name="Publier")).to_be_visible()

    run.refresh_from_db()
    assert run.status == "succeeded" and run.step == 2 and run.loss > 0 and run.checkpoint_path
    assert not run.published and again.created_by.username == "sam"
    assert again.hyperparameters["max_steps"] == run.hyperparameters["max_steps"] == 2
    assert again.snapshot_id == run.snapshot_id
    assert EvaluationSuite.objects.filter(name="quiz").exists() and BaseModel.objects.filter(name="petit").exists()
