"""The card and manifest name every licence a snapshot's records carry, and any override with who gave it."""

import json
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from tests.annotation.texts import documents
from training.models import Snapshot
from training.services.snapshot_build import snapshot_build
from training.services.snapshots import snapshot_create


def build(*, license="CC-BY-4.0", override_reason="", created_by=None):
    snapshot = snapshot_create(name="lic", license=license, parameters={"languages": ["de"]}, enqueue=False,
                               override_reason=override_reason, created_by=created_by)
    return snapshot_build(snapshot_id=snapshot.pk)


def card_and_manifest(snapshot):
    root = Path(snapshot.uri)
    card = (root / "README.md").read_text()
    return yaml.safe_load(card.split("---\n")[1]), card, json.loads((root / "manifest.json").read_text())


def test_an_override_discloses_the_true_licenses_the_reason_and_who_gave_it(ingested, partner_a, german, staff):
    ok = ingested([{"text": t} for t in documents(4, seed=70)], partner=partner_a, language=german)
    nc = ingested([{"text": t} for t in documents(3, seed=71)], partner=partner_a, language=german, license="CC-BY-NC-4.0")

    snapshot = build(override_reason="Written permission from Alpha, 2026-11-20.", created_by=staff)
    header, card, manifest = card_and_manifest(snapshot)

    assert header["license"] == ["cc-by-4.0", "cc-by-nc-4.0"]  # not the declared licence alone
    assert "Written permission from Alpha" in header["license_details"] and "sam" in header["license_details"]
    assert "## Licences" in card and "Written permission from Alpha, 2026-11-20." in card and "sam" in card
    assert manifest["license"] == "CC-BY-4.0"
    assert manifest["licenses"] == {"CC-BY-4.0": {"submissions": 1, "records": 4},
                                    "CC-BY-NC-4.0": {"submissions": 1, "records": 3}}
    override = manifest["license_override"]
    assert override["reason"] == "Written permission from Alpha, 2026-11-20." and override["by"] == "sam"
    assert [c["submission_id"] for c in override["conflicts"]] == [nc.pk]
    assert ok.pk not in [c["submission_id"] for c in override["conflicts"]]


def test_without_an_override_the_card_still_lists_every_license(ingested, partner_a, german):
    ingested([{"text": t} for t in documents(3, seed=72)], partner=partner_a, language=german)
    ingested([{"text": t} for t in documents(2, seed=73)], partner=partner_a, language=german, license="CC0-1.0")
    ingested([{"text": t} for t in documents(2, seed=74)], partner=partner_a, language=german, license="DL-DE-BY-2.0")

    header, card, manifest = card_and_manifest(build())

    assert header["license"] == ["cc-by-4.0", "cc0-1.0", "other"]
    assert header["license_name"] == "DL-DE-BY-2.0" and "license_details" not in header
    assert set(manifest["licenses"]) == {"CC-BY-4.0", "CC0-1.0", "DL-DE-BY-2.0"}
    assert manifest["license_override"] is None
    assert "| CC0-1.0 | 1 | 2 |" in card


def test_one_license_stays_a_single_value(ingested, partner_a, german):
    ingested([{"text": t} for t in documents(3, seed=75)], partner=partner_a, language=german)
    header, _, manifest = card_and_manifest(build())
    assert header["license"] == "cc-by-4.0" and manifest["licenses"] == {"CC-BY-4.0": {"submissions": 1, "records": 3}}


# -- the command line records who builds ------------------------------------------------


def command(*args):
    out = StringIO()
    call_command("build_snapshot", "cli", "--languages", "de", "--wait", *args, stdout=out)
    return json.loads(out.getvalue())


def test_the_command_line_records_the_user_given(ingested, partner_a, german, staff):
    ingested([{"text": t} for t in documents(3, seed=76)], partner=partner_a, language=german, license="CC-BY-NC-4.0")
    command("--by", "sam", "--override-reason", "Board decision 12.")
    snapshot = Snapshot.objects.get(name="cli")
    assert snapshot.created_by == staff
    assert json.loads(Path(snapshot.uri, "manifest.json").read_text())["license_override"]["by"] == "sam"


def test_the_command_line_falls_back_to_the_os_user(ingested, partner_a, german, staff, monkeypatch):
    ingested([{"text": t} for t in documents(3, seed=77)], partner=partner_a, language=german)
    monkeypatch.setattr("getpass.getuser", lambda: "sam")
    command()
    assert Snapshot.objects.get(name="cli").created_by == staff


def test_the_command_line_refuses_without_a_portal_account(ingested, partner_a, german, staff, member_a, monkeypatch):
    ingested([{"text": t} for t in documents(3, seed=78)], partner=partner_a, language=german, license="CC-BY-NC-4.0")
    monkeypatch.setattr("getpass.getuser", lambda: "root")
    with pytest.raises(CommandError, match="no portal account 'root'"):
        command()
    with pytest.raises(CommandError, match="no portal account 'nobody'"):
        command("--by", "nobody")
    with pytest.raises(CommandError, match="only staff"):
        command("--by", member_a.username, "--override-reason", "We asked.")
    assert not Snapshot.objects.exists()


def test_an_override_needs_someone_to_give_it(ingested, partner_a, german):
    ingested([{"text": t} for t in documents(3, seed=79)], partner=partner_a, language=german, license="CC-BY-NC-4.0")
    with pytest.raises(Exception, match="only staff"):
        build(override_reason="Nobody in particular.")
