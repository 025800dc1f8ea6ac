"""Security settings and the sign-in path: deploy checks, secret key, lockout, sessions, escaping."""

import os
import runpy
import secrets
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils import timezone

from annotation.models import Record, Submission
from occiportal.demo import DEMO_ADMIN
from occiportal.sessions import RENEW_AFTER_SECONDS, RENEWED_AT

from ..conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ROOT / "occiportal" / "settings.py"
# The variables the settings module reads; cleared so the host's cannot leak in.
SETTINGS_VARIABLES = [
    "DJANGO_SECRET_KEY", "DJANGO_DEBUG", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL", "OCCIPORTAL_ENV",
    "OCCIPORTAL_DATA_DIR", "OCCIPORTAL_TEST_DB_NAME", "CELERY_BROKER_URL", "OCCIPORTAL_S3_BUCKET",
    "DJANGO_SECURE_SSL_REDIRECT", "DJANGO_SECURE_HSTS_SECONDS", "DJANGO_EMAIL_BACKEND", "EMAIL_HOST",
]


def production_env(tmp_path, **extra):
    env = {key: value for key, value in os.environ.items() if key not in SETTINGS_VARIABLES}
    env.update(
        DJANGO_SETTINGS_MODULE="occiportal.settings",
        OCCIPORTAL_ENV="production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        DJANGO_ALLOWED_HOSTS="portal.example.org",
        DATABASE_URL="postgres://portal:portal@127.0.0.1:5432/portal",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        OCCIPORTAL_DATA_DIR=str(tmp_path / "data"),
        EMAIL_HOST="smtp.example.org",
    )
    env.update(extra)
    return env


def load_settings(monkeypatch, **variables):
    for key in SETTINGS_VARIABLES:
        monkeypatch.delenv(key, raising=False)
    for key, value in variables.items():
        monkeypatch.setenv(key, value)
    return runpy.run_path(str(SETTINGS))


# Settings ---------------------------------------------------------------------


def test_production_settings_pass_the_deploy_checks(tmp_path):
    result = deploy_check(tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def deploy_check(tmp_path, **extra):
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=production_env(tmp_path, **extra), capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize("mail", [
    {"EMAIL_HOST": ""}, {"DJANGO_EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"},
])  # fmt: skip
def test_production_without_a_mail_server_fails_its_checks(tmp_path, mail):
    result = deploy_check(tmp_path, **mail)

    assert result.returncode != 0
    assert "occiportal.E001" in result.stderr


def test_production_without_a_mail_server_does_not_migrate_so_the_stack_does_not_start(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT, env=production_env(tmp_path, EMAIL_HOST=""), capture_output=True, text=True, timeout=60,
    )

    assert result.returncode != 0
    assert "occiportal.E001" in result.stderr


def test_production_mail_goes_out_by_smtp_not_to_the_log(monkeypatch, tmp_path):
    module = load_settings(
        monkeypatch, OCCIPORTAL_ENV="production", DJANGO_SECRET_KEY="k" * 64, OCCIPORTAL_DATA_DIR=str(tmp_path)
    )

    assert module["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"


def test_production_without_a_secret_key_refuses_to_start(monkeypatch, tmp_path):
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY"):
        load_settings(monkeypatch, OCCIPORTAL_ENV="production", OCCIPORTAL_DATA_DIR=str(tmp_path))

    assert not (tmp_path / "secret_key").exists()


def test_production_is_secure_by_default(monkeypatch, tmp_path):
    module = load_settings(
        monkeypatch, OCCIPORTAL_ENV="production", DJANGO_SECRET_KEY="k" * 64, OCCIPORTAL_DATA_DIR=str(tmp_path)
    )

    assert module["DEBUG"] is False
    assert module["SESSION_COOKIE_SECURE"] and module["CSRF_COOKIE_SECURE"] and module["SECURE_SSL_REDIRECT"]
    assert module["SECURE_HSTS_SECONDS"] >= 31536000


def test_development_keeps_one_key_per_installation(monkeypatch, tmp_path):
    first = load_settings(monkeypatch, OCCIPORTAL_DATA_DIR=str(tmp_path / "one"))["SECRET_KEY"]
    again = load_settings(monkeypatch, OCCIPORTAL_DATA_DIR=str(tmp_path / "one"))["SECRET_KEY"]
    other = load_settings(monkeypatch, OCCIPORTAL_DATA_DIR=str(tmp_path / "two"))["SECRET_KEY"]

    key_file = tmp_path / "one" / "secret_key"
    assert first == again == key_file.read_text().strip()
    assert len(first) >= 50
    assert other != first
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_development_uses_the_given_key(monkeypatch, tmp_path):
    module = load_settings(monkeypatch, DJANGO_SECRET_KEY="given-" * 10, OCCIPORTAL_DATA_DIR=str(tmp_path))

    assert module["SECRET_KEY"] == "given-" * 10
    assert not (tmp_path / "secret_key").exists()


# Sign-in ------------------------------------------------------------------------

LOGIN_PAGES = ["login", "admin:login"]


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_the_sixth_attempt_is_refused_even_with_the_right_password(client, staff, page):
    url = reverse(page)
    for _ in range(django_settings.AXES_FAILURE_LIMIT):
        response = client.post(url, {"username": staff.username, "password": "wrong"})
        assert "_auth_user_id" not in client.session

    response = client.post(url, {"username": staff.username, "password": PASSWORD})

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.fixture
def demo_admin(db):
    return get_user_model().objects.create_superuser(DEMO_ADMIN[0], "admin@example.org", DEMO_ADMIN[1])


def test_a_published_demo_password_is_refused_in_production(client, settings, demo_admin):
    settings.PRODUCTION = True

    for page in LOGIN_PAGES:
        client.post(reverse(page), {"username": DEMO_ADMIN[0], "password": DEMO_ADMIN[1]})
        assert "_auth_user_id" not in client.session


def test_a_published_demo_password_still_works_in_development(client, demo_admin):
    response = client.post(reverse("login"), {"username": DEMO_ADMIN[0], "password": DEMO_ADMIN[1]})

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(demo_admin.pk)


def test_production_checks_name_demo_accounts_with_published_passwords(settings, demo_admin):
    settings.PRODUCTION = True

    assert [e.id for e in run_checks(tags=["database"], databases=["default"])] == ["occiportal.E002"]
    demo_admin.set_password("a-private-passphrase")
    demo_admin.save()
    assert run_checks(tags=["database"], databases=["default"]) == []


def test_four_failures_do_not_lock(client, staff):
    url = reverse("login")
    for _ in range(django_settings.AXES_FAILURE_LIMIT - 1):
        client.post(url, {"username": staff.username, "password": "wrong"})

    response = client.post(url, {"username": staff.username, "password": PASSWORD})

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(staff.pk)


def test_the_session_key_rotates_at_login(client, member_a):
    before = client.session
    before["visited"] = True
    before.save()
    old_key = client.cookies[django_settings.SESSION_COOKIE_NAME].value

    response = client.post(reverse("login"), {"username": member_a.username, "password": PASSWORD})

    assert response.status_code == 302
    new_key = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    assert new_key != old_key
    assert not Session.objects.filter(session_key=old_key).exists()
    assert client.session["_auth_user_id"] == str(member_a.pk)


def test_logout_ends_the_session(client, member_a):
    client.post(reverse("login"), {"username": member_a.username, "password": PASSWORD})
    key = client.cookies[django_settings.SESSION_COOKIE_NAME].value

    client.post(reverse("logout"))

    assert not Session.objects.filter(session_key=key).exists()
    assert client.get("/api/partners/").status_code in (401, 403)


def test_logout_is_post_only(client, member_a):
    client.force_login(member_a)

    assert client.get(reverse("logout")).status_code == 405
    assert client.session["_auth_user_id"] == str(member_a.pk)


# Escaping -----------------------------------------------------------------------


def test_record_text_is_escaped_in_the_admin(client, staff, partner_a, german):
    submission = Submission.objects.create(
        uuid=uuid.uuid4(), partner=partner_a, language=german, kind="pretraining", license="CC0-1.0",
        source="test", consent=True, file="uploads/x.jsonl", original_name="x.jsonl",
    )
    record = Record.objects.create(
        submission=submission, line=1, language=german, kind="pretraining",
        content={"text": "<script>alert('owned')</script> & <b>bold</b>"}, content_hash="0" * 32,
    )
    client.force_login(staff)

    change = client.get(reverse("admin:annotation_record_change", args=[record.pk]))
    changelist = client.get(reverse("admin:annotation_record_changelist"))

    for response in (change, changelist):
        html = response.content.decode()
        assert response.status_code == 200
        assert "<script>alert(" not in html
        assert "<b>bold</b>" not in html
        assert "&lt;script&gt;alert(" in html


# Sessions and connections ---------------------------------------------------------


def test_a_session_ends_after_hours_idle_not_weeks(client, member_a):
    client.post(reverse("login"), {"username": member_a.username, "password": PASSWORD})

    session = Session.objects.get(session_key=client.cookies[django_settings.SESSION_COOKIE_NAME].value)

    assert session.expire_date - timezone.now() <= timedelta(hours=8)


def test_use_pushes_the_idle_expiry_on_every_few_minutes(client, member_a):
    client.post(reverse("login"), {"username": member_a.username, "password": PASSWORD})
    key = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    session = client.session
    stamped = session[RENEWED_AT]
    session[RENEWED_AT] = stamped - RENEW_AFTER_SECONDS  # last pushed on a while ago
    session.save()
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() + timedelta(minutes=1))

    assert client.get(reverse("dashboard")).status_code == 200

    renewed = Session.objects.get(session_key=key).expire_date
    assert renewed - timezone.now() > timedelta(seconds=django_settings.SESSION_COOKIE_AGE - 60)


def test_a_session_pushed_on_lately_is_not_written_again(client, member_a):
    client.post(reverse("login"), {"username": member_a.username, "password": PASSWORD})
    key = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    before = Session.objects.get(session_key=key).expire_date

    client.get(reverse("dashboard"))

    assert Session.objects.get(session_key=key).expire_date == before


def test_dropped_database_connections_are_checked_before_use(monkeypatch):
    module = load_settings(monkeypatch, DATABASE_URL="postgres://portal:portal@127.0.0.1:5432/portal")

    assert module["DATABASES"]["default"]["CONN_HEALTH_CHECKS"] is True
