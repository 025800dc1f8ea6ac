"""Password change and reset are throttled: failed old passwords lock like failed sign-ins; resets per hour."""

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.cache import cache
from django.urls import reverse

from ..conftest import PASSWORD, make_user

NEW_PASSWORD = "a-fresh-and-long-passphrase"


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()
    yield
    cache.clear()


def change(client, old):
    return client.post(
        reverse("password_change"), {"old_password": old, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )


def test_the_right_old_password_changes_it(client, member_a):
    client.force_login(member_a)

    assert change(client, PASSWORD).status_code == 302

    member_a.refresh_from_db()
    assert member_a.check_password(NEW_PASSWORD)


def test_after_too_many_wrong_old_passwords_the_right_one_is_refused(client, member_a):
    client.force_login(member_a)
    assert change(client, "wrong").status_code == 200  # the form again, with its error
    for _ in range(django_settings.AXES_FAILURE_LIMIT - 1):
        change(client, "wrong")

    response = change(client, PASSWORD)

    assert response.status_code == 429
    member_a.refresh_from_db()
    assert member_a.check_password(PASSWORD)


def reset(client, email):
    return client.post(reverse("password_reset"), {"email": email})


def test_reset_requests_for_one_address_are_limited(client, member_a, settings):
    settings.PASSWORD_RESET_LIMITS = {"ip": 100, "email": 2}
    assert [reset(client, "Anna@example.org").status_code for _ in range(2)] == [302, 302]

    refused = reset(client, "anna@example.org")

    assert refused.status_code == 429
    assert "Too many password reset requests" in refused.text
    assert len(mail.outbox) == 2


def test_reset_requests_from_one_client_are_limited(client, db, settings):
    settings.PASSWORD_RESET_LIMITS = {"ip": 3, "email": 100}
    users = [make_user(f"user{i}") for i in range(4)]
    answers = [reset(client, user.email).status_code for user in users]

    assert answers == [302, 302, 302, 429]
    assert reset(client, users[0].email).status_code == 429
    other = client.post(reverse("password_reset"), {"email": users[3].email}, REMOTE_ADDR="192.0.2.7")
    assert other.status_code == 302
