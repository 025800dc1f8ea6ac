"""A demo partner, two demo users and one sample submission; safe to run again."""

from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from annotation.services.submissions import submission_create
from occiportal.demo import DEMO_ADMIN, DEMO_MEMBER
from occiportal.models import Language, LanguageRole, Partner
from occiportal.services import partner_create, partner_member_add

SAMPLE = Path(__file__).resolve().parents[2] / "demo" / "sample.jsonl"
PARTNER = ("demo-archive", "Demo Archive")
MEMBER_LANGUAGES = ["de", "fr"]
MEMBER_ROLES = [LanguageRole.Role.ANNOTATOR, LanguageRole.Role.LEAD]


class Command(BaseCommand):
    help = (
        "Create the demo partner 'demo-archive', the users demo/occiportal-demo and "
        "admin/occiportal-admin, and submit a sample of German documents. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Seed even with OCCIPORTAL_ENV=production (the demo passwords are public).",
        )

    def handle(self, *args, allow_production, **options):
        if settings.PRODUCTION and not allow_production:
            raise CommandError("Refusing to create users with published passwords in production.")
        with transaction.atomic():
            partner = Partner.objects.filter(slug=PARTNER[0]).first() or partner_create(slug=PARTNER[0], name=PARTNER[1])
            member = _user(*DEMO_MEMBER)
            _user(*DEMO_ADMIN, staff=True)
            partner_member_add(partner=partner, user=member)
            for code in MEMBER_LANGUAGES:
                language = Language.objects.get(code=code)
                for role in MEMBER_ROLES:
                    LanguageRole.objects.get_or_create(user=member, language=language, role=role)
            if partner.submissions.exists():
                self.stdout.write("Demo data is already there.")
                return
            with SAMPLE.open("rb") as handle:
                submission = submission_create(
                    uploader=member,
                    partner=partner,
                    language=Language.objects.get(code="de"),
                    kind="pretraining",
                    license="CC-BY-4.0",
                    source="Short German texts written for Occiportal's demo.",
                    consent=True,
                    file=File(handle, name=SAMPLE.name),
                )
        self.stdout.write(f"Seeded the demo; sample submission {submission.pk} is queued for ingest.")


def _user(username, password, *, staff=False):
    """Create the user unless it exists; an existing user's password is left alone."""
    users = get_user_model().objects
    user = users.filter(username=username).first()
    if user is None:
        create = users.create_superuser if staff else users.create_user
        user = create(username, f"{username}@example.org", password)
    return user
