"""Submit a file from the server's disk, as the API would, and optionally wait for ingest."""

import json
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from annotation.access import access_partner_for_submitting
from annotation.models import Submission
from annotation.services.submissions import submission_create
from occiportal.models import Language, Partner

POLL_SECONDS = 0.5


class Command(BaseCommand):
    help = (
        "Submit a file for a partner. Prints the submission id, or with --wait "
        "one JSON object of its figures once ingest is done (exit 1 if it failed)."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--partner", required=True, metavar="SLUG")
        parser.add_argument("--language", required=True, metavar="CODE")
        parser.add_argument("--kind", required=True)
        parser.add_argument("--license", "--licence", dest="license", required=True, metavar="SPDX")
        parser.add_argument("--source", default="Submitted by the portal's operator with `manage.py submit`.")
        parser.add_argument("--user", metavar="USERNAME", help="Uploader; default: the first staff user.")
        parser.add_argument("--wait", action="store_true", help="Wait until ingest is done and print its figures.")
        parser.add_argument("--timeout", type=float, default=3600, metavar="SECONDS", help="For --wait.")

    def handle(self, *args, **options):
        path = Path(options["path"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        uploader = _uploader(options["user"])
        partner = _partner(uploader, options["partner"])
        language = _language(options["language"])
        with path.open("rb") as handle:
            try:
                # The operator runs the command, so the operator gives consent.
                submission = submission_create(
                    uploader=uploader,
                    partner=partner,
                    language=language,
                    kind=options["kind"],
                    license=options["license"],
                    source=options["source"],
                    consent=True,
                    file=File(handle, name=path.name),
                    original_name=path.name,
                )
            except ValidationError as error:
                raise CommandError("; ".join(f"{f}: {' '.join(m)}" for f, m in error.message_dict.items()))
        if not options["wait"]:
            self.stdout.write(str(submission.pk))
            return
        submission = _wait(submission, options["timeout"])
        self.stdout.write(json.dumps(submission.figures()))
        if submission.status == Submission.Status.FAILED:
            raise CommandError(f"Submission {submission.pk} failed: {submission.failure}")


def _uploader(username):
    users = get_user_model().objects
    if username is None:
        return users.filter(is_staff=True, is_active=True).order_by("pk").first()
    try:
        return users.get(username=username, is_active=True)
    except get_user_model().DoesNotExist:
        raise CommandError(f"No active user {username!r}.")


def _partner(uploader, slug):
    if uploader is None:
        partner = Partner.objects.filter(slug=slug).first()
        if partner is None:
            raise CommandError(f"Unknown partner {slug!r}.")
        return partner
    try:
        return access_partner_for_submitting(uploader, slug)
    except Http404:
        raise CommandError(f"Unknown partner {slug!r} for user {uploader.username!r}.")


def _language(code):
    try:
        return Language.objects.get(code=code)
    except Language.DoesNotExist:
        raise CommandError(f"Unknown language {code!r}.")


def _wait(submission, timeout):
    deadline = time.monotonic() + timeout
    while not submission.is_finished:
        if time.monotonic() > deadline:
            raise CommandError(f"Submission {submission.pk} is still {submission.status} after {timeout:g} s.")
        time.sleep(POLL_SECONDS)
        submission.refresh_from_db()
    return submission
