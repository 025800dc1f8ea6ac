from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from occiportal.services import partner_create


class Command(BaseCommand):
    help = "Create a partner organisation, optionally with members (existing users)."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("name")
        parser.add_argument("--member", action="extend", nargs="+", default=[], metavar="USERNAME", help="One or more existing users.")

    def handle(self, *args, slug, name, member, **options):
        users = []
        for username in member:
            try:
                users.append(get_user_model().objects.get(username=username))
            except get_user_model().DoesNotExist:
                raise CommandError(f"No user {username!r}.")
        try:
            partner = partner_create(slug=slug, name=name, members=users)
        except ValidationError as error:
            raise CommandError(_messages(error))
        self.stdout.write(f"Created partner {partner.slug} ({partner.name}) with {len(users)} member(s).")


def _messages(error: ValidationError) -> str:
    return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in error.message_dict.items())
