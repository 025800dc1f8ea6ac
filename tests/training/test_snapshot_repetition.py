"""Mixtures repeat a document at most ``max_epochs`` times; a budget beyond that is refused with the figures."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from annotation.models import Record
from tests.annotation.texts import documents
from training.models import Snapshot
from training.services.snapshot_build import snapshot_build
from training.services.snapshots import snapshot_create
from training.snapshots.estimate import snapshot_estimate
from training.snapshots.mixture import BudgetRefused
from training.snapshots.params import ParameterError, normalise

PARAMS = {"languages": ["de", "fr"], "drop_language_mismatch": False, "reduce_near_duplicates": False,
          "splits": {"train": 1.0}}


@pytest.fixture
def two_languages(ingested, partner_a, partner_b, member_b, german, french):
    """40 German and 10 French documents; returns the French tokens."""
    ingested([{"text": t} for t in documents(40, "de", seed=80)], partner=partner_a, language=german)
    ingested([{"text": t} for t in documents(10, "fr", seed=81, sentences=3)], partner=partner_b, language=french,
             user=member_b)
    return sum(Record.objects.filter(language__code="fr").values_list("tokens", flat=True))


def create(name="rep", **params):
    return snapshot_create(name=name, license="CC-BY-4.0", parameters={**PARAMS, **params}, enqueue=False)


def test_the_cap_is_a_parameter_of_four_epochs_by_default():
    assert normalise({"languages": ["de"]})["max_epochs"] == 4
    assert normalise({"languages": ["de"], "max_epochs": "2"})["max_epochs"] == 2
    with pytest.raises(ParameterError, match="max_epochs"):
        normalise({"languages": ["de"], "max_epochs": 0})
    with pytest.raises(ParameterError, match="max_epochs"):
        normalise({"languages": ["de"], "upsampling": [[1, None, 5]]})


def test_a_budget_beyond_the_cap_is_refused_at_estimate_with_the_figures(two_languages):
    params = normalise({**PARAMS, "mixture": {"tokens": {"fr": 13 * two_languages}}})
    with pytest.raises(BudgetRefused) as refused:
        snapshot_estimate(params)
    assert refused.value.shortfalls == [
        {"language": "fr", "budget": 13 * two_languages, "available": 4 * two_languages, "cap": 4}]
    assert "fr" in str(refused.value) and str(4 * two_languages) in str(refused.value)

    with pytest.raises(BudgetRefused):
        create(mixture={"tokens": {"fr": 13 * two_languages}})
    assert not Snapshot.objects.exists()
    assert snapshot_estimate({**params, "max_epochs": 13})["fr"]["weight"] == 13


def test_a_build_refuses_a_budget_the_records_left_cannot_meet(two_languages):
    snapshot = create(mixture={"tokens": {"fr": 4 * two_languages}})
    # A withdrawal between definition and build: half the French records are gone.
    gone = Record.objects.filter(language__code="fr").order_by("pk").values_list("pk", flat=True)[:5]
    Record.objects.filter(pk__in=list(gone)).update(status=Record.Status.WITHDRAWN)

    built = snapshot_build(snapshot_id=snapshot.pk)
    assert built.status == Snapshot.Status.FAILED
    assert "fr" in built.failure and str(4 * two_languages) in built.failure and "4 epochs" in built.failure


def test_the_card_and_manifest_show_the_repetition_achieved(two_languages):
    built = snapshot_build(snapshot_id=create(mixture={"tokens": {"fr": 4 * two_languages}}).pk)
    assert built.status == Snapshot.Status.READY, built.failure
    root = Path(built.uri)
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["parameters"]["max_epochs"] == 4
    assert manifest["epochs"] == {"de": {"max": 1, "mean": 1.0}, "fr": {"max": 4, "mean": 4.0}}
    card = (root / "README.md").read_text()
    assert "## Repetition" in card and "| fr | 4 | 4.00 |" in card and "| de | 1 | 1.00 |" in card


def test_replay_that_needs_more_than_the_cap_is_refused(two_languages):
    with pytest.raises(BudgetRefused) as refused:
        create(mixture={"replay": {"language": "fr", "share": 0.9}})
    assert [s["language"] for s in refused.value.shortfalls] == ["fr"]


def test_the_form_shows_the_refusal_with_the_figures(client, staff, two_languages):
    client.force_login(staff)
    form = {"name": "web", "languages": ["de", "fr"], "kinds": ["pretraining"], "license": "CC-BY-4.0", "seed": 0,
            "train": 1, "validation": 0, "test": 0, "max_epochs": 4,
            "mixture": json.dumps({"tokens": {"fr": 13 * two_languages}})}
    for button in ("estimate", "build"):
        response = client.post(reverse("snapshot_new"), {**form, button: "1"})
        assert response.status_code == 400, button
        text = response.content.decode()
        assert f"{13 * two_languages:,}" in text and f"{4 * two_languages:,}" in text, button
    assert not Snapshot.objects.exists()
    ok = client.post(reverse("snapshot_new"), {**form, "max_epochs": 13, "estimate": "1"})
    assert ok.status_code == 200 and ok.context["estimate"]["fr"]["epochs"] == 13
    assert "Most repeats" in ok.content.decode()


def test_the_command_line_reports_the_refusal(two_languages, staff):
    mixture = json.dumps({"mixture": {"tokens": {"fr": 13 * two_languages}}})
    with pytest.raises(CommandError, match="budget"):
        call_command("build_snapshot", "cli", "--languages", "de,fr", "--parameters", mixture, "--by", "sam", "--wait",
                     stdout=StringIO())


def test_the_migration_gives_unbuilt_snapshots_the_default_cap(two_languages):
    import importlib

    from django.apps import apps

    fill = importlib.import_module("training.migrations.0006_snapshot_max_epochs").max_epochs_fill
    ready = snapshot_build(snapshot_id=create(name="old").pk)
    queued = create(name="queued")
    for snapshot in (ready, queued):  # as defined before the cap existed
        del snapshot.parameters["max_epochs"]
        Snapshot.objects.filter(pk=snapshot.pk).update(parameters=snapshot.parameters)

    fill(apps, None)
    assert "max_epochs" not in Snapshot.objects.get(pk=ready.pk).parameters  # its manifest says what it was built with
    assert Snapshot.objects.get(pk=queued.pk).parameters["max_epochs"] == 4
    assert snapshot_build(snapshot_id=queued.pk).status == Snapshot.Status.READY
