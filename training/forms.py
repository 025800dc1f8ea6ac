"""The snapshot definition form: a friendly face on the parameters (params.py)."""

import json

from django import forms
from django.utils.translation import gettext_lazy as _

from annotation import licenses
from annotation.models.submissions import Kind
from occiportal.models import Language


class SnapshotForm(forms.Form):
    name = forms.SlugField(max_length=100, help_text=_("A new version is numbered automatically."))
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    languages = forms.ModelMultipleChoiceField(Language.objects.all(), to_field_name="code")
    kinds = forms.MultipleChoiceField(choices=Kind.choices, initial=["pretraining"])
    license = forms.ChoiceField(label=_("Declared licence"), choices=licenses.CHOICES, initial="CC-BY-4.0")
    seed = forms.IntegerField(initial=0)
    train = forms.FloatField(initial=0.98, min_value=0, max_value=1)
    validation = forms.FloatField(initial=0.01, min_value=0, max_value=1)
    test = forms.FloatField(initial=0.01, min_value=0, max_value=1)
    include_pending = forms.BooleanField(required=False, help_text=_("Accepted records only unless ticked."))
    drop_language_mismatch = forms.BooleanField(required=False, initial=True)
    reduce_near_duplicates = forms.BooleanField(required=False, initial=True)
    upsampling = forms.BooleanField(label=_("FineWeb-2 upsampling by cluster size"), required=False)
    mixture = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_('JSON, e.g. {"tokens": {"de": 1000000}, "replay": {"language": "en", "share": 0.1}}'),
    )
    tokenizer = forms.CharField(required=False, help_text=_("Path of the base model's tokenizer.json, for fertility."))
    override_reason = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Only to build despite licence conflicts: why, for the record."),
    )

    def clean_mixture(self):
        text = self.cleaned_data["mixture"].strip()
        try:
            return json.loads(text) if text else {}
        except json.JSONDecodeError as error:
            raise forms.ValidationError(_("Not valid JSON: %(error)s"), params={"error": error})

    def parameters(self) -> dict:
        data = self.cleaned_data
        return {
            "languages": [lang.code for lang in data["languages"]],
            "kinds": data["kinds"],
            "statuses": ["accepted", "pending"] if data["include_pending"] else ["accepted"],
            "drop_language_mismatch": data["drop_language_mismatch"],
            "reduce_near_duplicates": data["reduce_near_duplicates"],
            "upsampling": "fineweb2" if data["upsampling"] else None,
            "mixture": data["mixture"],
            "splits": {"train": data["train"], "validation": data["validation"], "test": data["test"]},
            "seed": data["seed"],
            "tokenizer": data["tokenizer"],
        }


class WithdrawalForm(forms.Form):
    record = forms.IntegerField(required=False, help_text=_("A record's number to withdraw only it; empty for the whole submission."))
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
