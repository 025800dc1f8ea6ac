import sys

from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from occiportal.models import Invitation, Language, Partner
from occiportal.services import person_create, person_roles_grant


class Command(BaseCommand):
    help = (
        "Create a user, optionally with one role: in a partner (--partner, --role member|admin) or in languages "
        "(--languages, --role annotator|lead). Without --password-stdin, print a one-time set-password link."
    )

    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--email", required=True)
        parser.add_argument("--partner", metavar="SLUG")
        parser.add_argument("--languages", metavar="CODES", help="Comma-separated codes: de,fr")
        parser.add_argument(
            "--role", choices=Invitation.Role.values, help="Default: member with --partner, annotator with --languages."
        )
        parser.add_argument("--staff", action="store_true")
        parser.add_argument("--password-stdin", action="store_true", help="Read the password from stdin's first line.")
        parser.add_argument("--base-url", default="http://localhost:8000", help="The portal's address, for the link.")

    def handle(self, *args, username, email, partner, languages, role, staff, password_stdin, base_url, **options):
        stdin = options.get("stdin", sys.stdin)
        partner, languages = _partner(partner), _languages(languages)
        role = role or (Invitation.Role.PARTNER_MEMBER if partner else Invitation.Role.ANNOTATOR if languages else None)
        if role and (role in Invitation.PARTNER_ROLES) != bool(partner):
            raise CommandError("--role member|admin goes with --partner, annotator|lead with --languages.")
        if Invitation.scope_problems(role, partner=partner, languages=languages):
            raise CommandError(f"--role {role} needs --languages.")
        password = stdin.readline().rstrip("\n") if password_stdin else None
        try:
            with transaction.atomic():
                user = person_create(username=username, email=email, password=password, is_staff=staff)
                if role:
                    person_roles_grant(user=user, role=role, partner=partner, languages=languages)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages))
        self.stdout.write(f"Created user {user.username}.")
        if not password:
            self.stdout.write(f"Set a password (once) at: {_set_password_link(user, base_url)}")


def _partner(slug):
    if not slug:
        return None
    try:
        return Partner.objects.get(slug=slug)
    except Partner.DoesNotExist:
        raise CommandError(f"No partner {slug!r}.")


def _languages(codes):
    codes = [code.strip() for code in (codes or "").split(",") if code.strip()]
    languages = list(Language.objects.filter(code__in=codes))
    missing = set(codes) - {language.code for language in languages}
    if missing:
        raise CommandError(f"Unknown language(s): {', '.join(sorted(missing))}.")
    return languages


def _set_password_link(user, base_url) -> str:
    uidb64, token = urlsafe_base64_encode(force_bytes(user.pk)), default_token_generator.make_token(user)
    path = reverse("password_reset_confirm", kwargs={"uidb64": uidb64, "token": token})
    return base_url.rstrip("/") + path
