"""System checks that keep a production start-up from leaking credentials.

Not deployment-only: ``manage.py migrate``, which the production stack runs
before the web server starts (compose.yaml), runs them too, so a failing one
stops the stack. ``manage.py check --deploy --database default`` runs both.
"""

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.db import DatabaseError

from .demo import demo_accounts_with_published_passwords

# Backends that keep mail where people other than its addressee read it.
UNSENT_MAIL_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
}
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


@register(Tags.security)
def check_mail_backend(app_configs, **kwargs):
    if not settings.PRODUCTION:
        return []
    backend = settings.EMAIL_BACKEND
    if backend in UNSENT_MAIL_BACKENDS or (backend == SMTP_BACKEND and not settings.EMAIL_HOST):
        return [Error(
            f"EMAIL_BACKEND is {backend} without a mail server: password-reset links would be "
            "printed to the log or lost.",
            hint="Set EMAIL_HOST (and EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD) for SMTP, or "
                 "DJANGO_EMAIL_BACKEND to another backend that delivers mail.",
            id="occiportal.E001",
        )]  # fmt: skip
    return []


@register(Tags.security, Tags.database)
def check_demo_passwords(app_configs, databases=None, **kwargs):
    if not settings.PRODUCTION or not databases:
        return []
    try:
        published = demo_accounts_with_published_passwords()
    except DatabaseError:  # before the first migration there are no accounts
        return []
    return [
        Error(
            f"The demo account {username!r} still has its published password (seed_demo).",
            hint=f"Delete it, or set a new password: python manage.py changepassword {username}",
            id="occiportal.E002",
        )
        for username in published
    ]
