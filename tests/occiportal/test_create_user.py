"""``manage.py create_user``: an account with one role, for scripts; nothing secret printed."""

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from annotation.models import Certification
from occiportal.models import LanguageRole, PartnerMembership

PASSWORD = "a-long-and-unusual-passphrase"


def create_user(*args, stdin=""):
    out = io.StringIO()
    call_command("create_user", *args, stdin=io.StringIO(stdin), stdout=out)
    return out.getvalue()


def test_a_partner_admin_with_a_password_from_stdin(partner_a):
    args = ["--partner", "alpha", "--role", "admin", "--password-stdin"]
    out = create_user("pia", "--email", "pia@example.org", *args, stdin=PASSWORD + "\n")
    assert PASSWORD not in out
    assert get_user_model().objects.get(username="pia").check_password(PASSWORD)
    assert PartnerMembership.objects.get(user__username="pia").role == "admin"


def test_without_a_password_it_prints_a_set_password_link_that_works(client, german, french):
    out = create_user("leo", "--email", "leo@example.org", "--languages", "de,fr", "--role", "lead")
    user = get_user_model().objects.get(username="leo")
    assert not user.has_usable_password()
    assert set(LanguageRole.objects.filter(user=user).values_list("language__code", flat=True)) == {"de", "fr"}
    path = re.search(r"https?://[^/\s]+(/\S+)", out).group(1)
    response = client.get(path)
    assert response.status_code == 302 and response.url.endswith("/set-password/")


def test_languages_alone_make_an_annotator(german):
    create_user("ali", "--email", "ali@example.org", "--languages", "de")
    assert Certification.objects.filter(user__username="ali", language_code="de").exists()


def test_staff(db):
    create_user("sue", "--email", "sue@example.org", "--staff")
    assert get_user_model().objects.get(username="sue").is_staff


@pytest.mark.parametrize(
    "args",
    [
        ["--partner", "nowhere"],
        ["--languages", "xx"],
        ["--partner", "alpha", "--role", "lead"],
        ["--role", "annotator"],
    ],
)
def test_bad_arguments_create_nobody(partner_a, german, args):
    with pytest.raises(CommandError):
        create_user("bad", "--email", "bad@example.org", *args)
    assert not get_user_model().objects.filter(username="bad").exists()


def test_a_weak_password_is_refused(db):
    with pytest.raises(CommandError):
        create_user("weak", "--email", "weak@example.org", "--password-stdin", stdin="12345678\n")
    assert not get_user_model().objects.filter(username="weak").exists()
