"""Who takes part: languages, partner organisations, and people's roles."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

# ISO 639-1 (two letters) or ISO 639-3 (three), optionally with a region or
# variant subtag as BCP 47 writes it: "de", "oci", "pt-BR", "es-419".
language_code_validator = RegexValidator(
    r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
    _("Use an ISO 639-1 or ISO 639-3 code, optionally with a BCP 47 subtag (pt-BR, es-419)."),
)


class Language(models.Model):
    code = models.CharField(max_length=35, unique=True, validators=[language_code_validator])
    name_en = models.CharField(_("English name"), max_length=100)
    name_native = models.CharField(_("native name"), max_length=100)
    is_eu_official = models.BooleanField(_("official EU language"), default=False)

    class Meta:
        ordering = ["name_en"]

    def __str__(self):
        return f"{self.name_en} ({self.code})"


class Partner(models.Model):
    """An organisation that contributes data."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="PartnerMembership", related_name="partners"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class PartnerMembership(models.Model):
    """A person who submits data on a partner's behalf; a partner admin also invites its people."""

    class Role(models.TextChoices):
        MEMBER = "member", _("Partner member")
        ADMIN = "admin", _("Partner admin")

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="partner_memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["partner", "user"], name="unique_partner_member")]

    def __str__(self):
        return f"{self.user} @ {self.partner}"


class LanguageRole(models.Model):
    """What a person may do in one language."""

    class Role(models.TextChoices):
        ANNOTATOR = "annotator", _("Annotator")
        REVIEWER = "reviewer", _("Reviewer")
        LEAD = "lead", _("Language lead")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="language_roles")
    language = models.ForeignKey(Language, on_delete=models.CASCADE, related_name="roles")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "language", "role"], name="unique_language_role")
        ]

    def __str__(self):
        return f"{self.user}: {self.get_role_display()} ({self.language.code})"


class Invitation(models.Model):
    """An e-mail link that makes (or extends) an account with one role.

    Only the SHA-256 of the link's token is stored; the link is good once,
    until ``expires_at``, unless revoked. Partner roles name a partner,
    language roles name languages.
    """

    class Role(models.TextChoices):
        PARTNER_MEMBER = "member", _("Partner member")
        PARTNER_ADMIN = "admin", _("Partner admin")
        ANNOTATOR = "annotator", _("Annotator")
        LEAD = "lead", _("Language lead")

    PARTNER_ROLES = (Role.PARTNER_MEMBER, Role.PARTNER_ADMIN)

    @classmethod
    def scope_problems(cls, role: str, *, partner, languages) -> dict[str, str]:
        """What a ``role`` lacks, by field: partner roles name a partner, language roles at least one language."""
        if not role:
            return {}
        if role in cls.PARTNER_ROLES:
            return {} if partner else {"partner": _("Choose the partner.")}
        return {} if languages else {"languages": _("Choose at least one language.")}

    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices)
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, null=True, blank=True, related_name="invitations")
    languages = models.ManyToManyField(Language, blank=True, related_name="invitations")
    mail_language = models.CharField(max_length=8, help_text=_("The language the invitation mail is written in."))
    token_hash = models.CharField(max_length=64, unique=True, help_text=_("SHA-256 of the link's token, in hex."))
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["email"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=["member", "admin"], partner__isnull=False)
                | models.Q(role__in=["annotator", "lead"], partner__isnull=True),
                name="invitation_partner_iff_partner_role",
            )
        ]

    def __str__(self):
        return f"{self.email}: {self.get_role_display()}"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None
