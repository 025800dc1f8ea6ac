"""Operators' commands: create_partner, create_api_token, submit, seed_demo."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, ManagementUtility, call_command
from rest_framework.authtoken.models import Token

from annotation.models import Submission
from occiportal.models import LanguageRole, Partner

SAMPLE = Path(__file__).resolve().parents[2] / "annotation" / "demo" / "sample.jsonl"
FIGURE_KEYS = {
    "submission", "status", "records_read", "records_accepted", "records_rejected", "exact_duplicates",
    "near_duplicates", "language_mismatches", "pii_redactions", "tokens", "errors",
}


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


@pytest.fixture
def doc_file(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "Ein Satz auf Deutsch, der für die Probe reicht."}\n', encoding="utf-8")
    return path


def submit_args(path, **overrides):
    options = {"partner": "alpha", "language": "de", "kind": "pretraining", "license": "CC-BY-4.0"}
    options.update(overrides)
    return ["submit", str(path), *[f"--{key}={value}" for key, value in options.items()]]


# create_partner ---------------------------------------------------------------


def test_create_partner_with_members(member_a, member_b):
    run("create_partner", "gamma", "Gamma Corpus", "--member", member_a.username, "--member", member_b.username)

    partner = Partner.objects.get(slug="gamma")
    assert partner.name == "Gamma Corpus"
    assert set(partner.members.all()) == {member_a, member_b}


def test_create_partner_takes_several_members_after_one_flag(member_a, member_b):
    run("create_partner", "gamma", "Gamma Corpus", "--member", member_a.username, member_b.username)

    assert Partner.objects.get(slug="gamma").members.count() == 2


def test_create_partner_refuses_an_unknown_member(db):
    with pytest.raises(CommandError, match="No user 'nobody'"):
        run("create_partner", "gamma", "Gamma Corpus", "--member", "nobody")

    assert not Partner.objects.filter(slug="gamma").exists()


def test_create_partner_refuses_a_taken_or_bad_slug(partner_a):
    with pytest.raises(CommandError, match="slug"):
        run("create_partner", "alpha", "Another Alpha")
    with pytest.raises(CommandError, match="slug"):
        run("create_partner", "not a slug", "Spaces")


# create_api_token -------------------------------------------------------------


def test_create_api_token_prints_the_same_token_each_time(member_a):
    first = run("create_api_token", member_a.username)

    assert first == Token.objects.get(user=member_a).key
    assert run("create_api_token", member_a.username) == first


def test_create_api_token_for_an_unknown_user(db):
    with pytest.raises(CommandError, match="No user"):
        run("create_api_token", "nobody")


# submit -----------------------------------------------------------------------


def test_submit_prints_the_id_and_defaults_to_the_first_staff_user(staff, partner_a, doc_file, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        out = run(*submit_args(doc_file, source="Scanned newsletters"))

    submission = Submission.objects.get(pk=int(out))
    assert submission.uploader == staff
    assert submission.partner == partner_a
    assert (submission.kind, submission.license, submission.source) == ("pretraining", "CC-BY-4.0", "Scanned newsletters")
    assert submission.consent is True
    assert submission.original_name == "docs.jsonl"
    assert len(callbacks) == 1


def test_submit_as_a_member(member_a, partner_a, doc_file):
    out = run(*submit_args(doc_file), "--user", member_a.username)

    assert Submission.objects.get(pk=int(out)).uploader == member_a


def test_submit_without_any_staff_user_has_no_uploader(partner_a, doc_file):
    out = run(*submit_args(doc_file))

    assert Submission.objects.get(pk=int(out)).uploader is None


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"partner": "gamma"}, "Unknown partner 'gamma'"),
        ({"language": "xx"}, "Unknown language 'xx'"),
        ({"kind": "poetry"}, "kind: Unknown kind poetry"),
        ({"license": "WTFPL"}, "license: Unknown licence WTFPL"),
        ({"source": " "}, "source:"),
    ],
)
def test_submit_refuses_bad_arguments(staff, partner_a, doc_file, overrides, message):
    with pytest.raises(CommandError, match=message):
        run(*submit_args(doc_file, **overrides))

    assert not Submission.objects.exists()


def test_submit_refuses_a_missing_file(staff, partner_a, tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        run(*submit_args(tmp_path / "nothing.jsonl"))


def test_submit_refuses_an_empty_file(staff, partner_a, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")

    with pytest.raises(CommandError, match="file: The file is empty"):
        run(*submit_args(empty))


def test_submit_for_a_partner_the_user_does_not_belong_to(member_a, partner_b, doc_file):
    with pytest.raises(CommandError, match="Unknown partner 'beta'"):
        run(*submit_args(doc_file, partner="beta"), "--user", member_a.username)


# seed_demo --------------------------------------------------------------------


def test_seed_demo_is_idempotent(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        run("seed_demo")
        run("seed_demo")

    partner = Partner.objects.get(slug="demo-archive")
    assert partner.name == "Demo Archive"
    demo = get_user_model().objects.get(username="demo")
    admin = get_user_model().objects.get(username="admin")
    assert demo.check_password("occiportal-demo") and not demo.is_staff
    assert admin.check_password("occiportal-admin") and admin.is_superuser and admin.is_staff
    assert list(partner.members.all()) == [demo]
    roles = set(LanguageRole.objects.filter(user=demo).values_list("language__code", "role"))
    assert roles == {("de", "annotator"), ("de", "lead"), ("fr", "annotator"), ("fr", "lead")}
    submission = Submission.objects.get()
    assert (submission.partner, submission.language.code, submission.kind) == (partner, "de", "pretraining")
    assert len(callbacks) == 1


def test_seed_demo_keeps_existing_users(django_user_model):
    django_user_model.objects.create_user("demo", password="changed-by-the-operator")

    run("seed_demo")

    assert django_user_model.objects.get(username="demo").check_password("changed-by-the-operator")


def test_seed_demo_refuses_production(db, settings):
    settings.PRODUCTION = True

    with pytest.raises(CommandError, match="production"):
        run("seed_demo")
    assert not Partner.objects.exists()


def test_demo_sample_is_thirty_german_documents():
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()

    docs = [json.loads(line) for line in lines]
    assert len(docs) == 30
    assert len({doc["text"] for doc in docs}) == 30
    assert all(len(doc["text"]) > 100 for doc in docs)


# submit --wait, with the real worker ---------------------------------------------
# The worker needs committed data, hence transactions; serialized_rollback
# brings back the languages the data migration seeded after each flush.

@pytest.mark.worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_submit_wait_prints_the_figures(celery_worker, staff, partner_a):
    out = run(*submit_args(SAMPLE), "--wait", "--timeout", "60")

    figures = json.loads(out)  # exactly one JSON object, nothing else
    assert FIGURE_KEYS <= set(figures)
    assert figures["status"] == "ready"
    assert figures["records_read"] == 30
    assert figures["records_accepted"] > 0
    assert figures["submission"] == Submission.objects.get().pk


@pytest.mark.worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_submit_wait_exits_non_zero_when_ingest_fails(celery_worker, staff, partner_a, tmp_path, capsys):
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(b"this is not gzip at all\x00\xff" * 64)

    with pytest.raises(SystemExit) as exit_:
        ManagementUtility(["manage.py", *submit_args(broken), "--wait", "--timeout", "60"]).execute()

    assert exit_.value.code != 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["status"] == "failed"
    assert FIGURE_KEYS <= set(figures)
