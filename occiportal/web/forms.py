"""Forms of the People pages: invite someone, make a language lead, accept an invitation."""

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.utils.translation import gettext_lazy as _

from occiportal.models import Invitation


class InvitationForm(forms.Form):
    """The roles, partners and languages offered are those the inviter may give."""

    email = forms.EmailField(label=_("E-mail address"))
    role = forms.ChoiceField(label=_("Role"))
    partner = forms.ModelChoiceField(label=_("Partner"), queryset=None, required=False, to_field_name="slug")
    languages = forms.ModelMultipleChoiceField(
        label=_("Languages"), queryset=None, required=False, to_field_name="code",
        help_text=_("For annotators and language leads."),
    )  # fmt: skip
    mail_language = forms.ChoiceField(label=_("Language of the e-mail"), choices=settings.LANGUAGES)

    def __init__(self, *args, partners, languages, **kwargs):
        super().__init__(*args, **kwargs)
        # Offer only what the inviter can give: a partner admin who leads no language sees no language list.
        roles = []
        if partners.exists():
            roles += [choice for choice in Invitation.Role.choices if choice[0] in Invitation.PARTNER_ROLES]
            self.fields["partner"].queryset = partners
        else:
            del self.fields["partner"]
        if languages.exists():
            roles += [choice for choice in Invitation.Role.choices if choice[0] not in Invitation.PARTNER_ROLES]
            self.fields["languages"].queryset = languages
        else:
            del self.fields["languages"]
        self.fields["role"].choices = roles

    def clean(self):
        data = super().clean()
        role, partner, languages = data.get("role"), data.get("partner"), data.get("languages")
        for field, message in Invitation.scope_problems(role, partner=partner, languages=languages).items():
            self.add_error(field, message)
        return data


class LeadForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    language = forms.ModelChoiceField(label=_("Language"), queryset=None, to_field_name="code")

    def __init__(self, *args, languages, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["language"].queryset = languages

    def clean_username(self):
        try:
            return get_user_model().objects.get(username=self.cleaned_data["username"], is_active=True)
        except get_user_model().DoesNotExist:
            raise forms.ValidationError(_("No such user."))


class AcceptForm(UserCreationForm):
    """A username and a password the validators accept, for someone new."""

    class Meta(UserCreationForm.Meta):
        fields = ("username",)

    def __init__(self, *args, email, **kwargs):
        super().__init__(*args, **kwargs)
        # The validators compare the password with the address it will carry.
        self.instance.email = email
