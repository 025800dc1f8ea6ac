"""The upload form: what a partner says about a file before ingest reads it."""

from django import forms
from django.utils.translation import gettext_lazy as _

from annotation import licenses, selectors
from annotation.services.uploads import upload_of
from annotation.models.submissions import Kind


class LanguageChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, language):
        # Ordered by English name; the native name helps people find their own.
        if language.name_native == language.name_en:
            return f"{language.name_en} ({language.code})"
        return f"{language.name_en} — {language.name_native} ({language.code})"


class SubmissionForm(forms.Form):
    # Only the user's own partners are choices, so a forged slug is an
    # invalid choice; the view still checks it with access_partner_for_submitting.
    partner = forms.ModelChoiceField(
        label=_("Partner organisation"),
        queryset=None,
        to_field_name="slug",
        empty_label=None,
        help_text=_("The organisation that gives this data."),
    )
    language = LanguageChoiceField(
        label=_("Language"),
        queryset=None,
        to_field_name="code",
        empty_label=_("Choose a language"),
        help_text=_("The language the records are written in."),
    )
    kind = forms.ChoiceField(
        label=_("Kind of data"),
        choices=Kind.choices,
        help_text=_(
            "What each record is: a document, a pair, a conversation, an evaluation item, or a preference between answers."
        ),
    )
    license = forms.ChoiceField(
        label=_("Licence"),
        choices=[("", _("Choose a licence")), *licenses.CHOICES],
        help_text=_("The licence under which your organisation gives this data."),
    )
    source = forms.CharField(
        label=_("Source and provenance"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=5000,
        help_text=_("Where the data comes from, how it was collected or written, and by whom."),
    )
    file = forms.FileField(
        label=_("File"),
        required=False,  # or ``upload``: the page's script sends large files in resumable pieces first
        help_text=_(
            "JSON Lines (one record per line), CSV or TSV with a header row, plain text or Parquet. "
            "Compressed files and archives are unpacked."
        ),
    )
    upload = forms.UUIDField(required=False, widget=forms.HiddenInput)
    consent = forms.BooleanField(
        label=_("My organisation may give this data under the licence chosen above."),
        required=True,
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, label_suffix="", **kwargs)
        self.user = user
        partners = selectors.partners_of(user)
        self.fields["partner"].queryset = partners
        self.fields["language"].queryset = selectors.languages_for_select()
        if len(partners) == 1:
            self.fields["partner"].initial = partners[0]

    def clean_upload(self):
        upload_id = self.cleaned_data.get("upload")
        if upload_id is None:
            return None
        upload = upload_of(self.user, upload_id)
        if upload is None:
            raise forms.ValidationError(_("This upload no longer exists; choose the file again."))
        return upload

    def clean(self):
        data = super().clean()
        # A file the field refused (an empty one) has its own error already; one is enough.
        if not data.get("file") and not data.get("upload") and not {"file", "upload"} & self.errors.keys():
            self.add_error("file", _("Choose a file to upload."))
        return data
