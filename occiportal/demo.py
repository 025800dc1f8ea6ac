"""The demo accounts ``seed_demo`` creates. Their passwords are published (README), so production refuses them."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied

DEMO_MEMBER = ("demo", "occiportal-demo")
DEMO_ADMIN = ("admin", "occiportal-admin")
DEMO_LOGINS = (DEMO_MEMBER, DEMO_ADMIN)


class DemoPasswordBackend:
    """In production, end sign-in with a published demo username and password; elsewhere, pass.

    PermissionDenied stops ``authenticate`` before the next backend checks
    the password, and counts as a failed attempt for django-axes. No
    ``get_user``: sessions are never this backend's, so ``force_login`` and
    signed-in sessions pass it by.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if settings.PRODUCTION and (username, password) in DEMO_LOGINS:
            raise PermissionDenied
        return None


def demo_accounts_with_published_passwords() -> list[str]:
    """The usernames of demo accounts whose password is still the published one."""
    users = get_user_model().objects.filter(username__in=[username for username, _ in DEMO_LOGINS])
    passwords = dict(DEMO_LOGINS)
    return [user.username for user in users if user.check_password(passwords[user.username])]
