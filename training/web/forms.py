"""The snapshot definition form: a friendly face on the parameters (params.py)."""

import json

from django import forms
from django.utils.translation import gettext_lazy as _

from annotation import licenses
from annotation.models.submissions import Kind
from occiportal.models import Language


class LanguagesField(forms.ModelMultipleChoiceField):
    """Several languages as a grid of checkboxes, each named as its speakers name it, with its code."""

    widget = forms.CheckboxSelectMultiple(attrs={"class": "check-grid"})

    def label_from_instance(self, language):
        return f"{language.name_native} ({language.code})"


class SnapshotForm(forms.Form):
    name = forms.SlugField(
        label=_("Name"), max_length=100,
        help_text=_("Letters, digits, hyphens and underscores. A new version is numbered automatically."),
    )  # fmt: skip
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("What the snapshot is for; it opens the dataset card."),
    )  # fmt: skip
    languages = LanguagesField(
        Language.objects.all(), to_field_name="code", label=_("Languages"),
        help_text=_("Records in these languages go into the snapshot."),
    )  # fmt: skip
    kinds = forms.MultipleChoiceField(
        label=_("Kinds of data"), choices=Kind.choices, initial=["pretraining"],
        widget=forms.CheckboxSelectMultiple(attrs={"class": "check-grid"}),
        help_text=_("Which records go in: documents, instruction pairs, conversations, evaluation items."),
    )  # fmt: skip
    license = forms.ChoiceField(
        label=_("Declared licence"), choices=licenses.CHOICES, initial="CC-BY-4.0",
        help_text=_("The licence the snapshot is given under; records whose licence does not allow it are conflicts."),
    )  # fmt: skip
    seed = forms.IntegerField(
        label=_("Random seed"), initial=0,
        help_text=_("Decides the splits and the sampling: the same seed and data give the same snapshot."),
    )  # fmt: skip
    train = forms.FloatField(
        label=_("Training share"), initial=0.98, min_value=0, max_value=1,
        help_text=_("Share of the records for training, from 0 to 1. The three shares add up to 1."),
    )  # fmt: skip
    validation = forms.FloatField(
        label=_("Validation share"), initial=0.01, min_value=0, max_value=1,
        help_text=_("Share of the records held out for validation, from 0 to 1."),
    )  # fmt: skip
    test = forms.FloatField(
        label=_("Test share"), initial=0.01, min_value=0, max_value=1,
        help_text=_("Share of the records held out for evaluation, from 0 to 1."),
    )  # fmt: skip
    include_pending = forms.BooleanField(
        label=_("Include records still in review"), required=False,
        help_text=_("Accepted records only unless ticked."),
    )  # fmt: skip
    drop_language_mismatch = forms.BooleanField(
        label=_("Leave out records in another language"), required=False, initial=True,
        help_text=_("Records whose detected language is not the one they were submitted in."),
    )  # fmt: skip
    reduce_near_duplicates = forms.BooleanField(
        label=_("Keep one of each group of near-duplicates"), required=False, initial=True,
        help_text=_("Records that differ only slightly count once."),
    )  # fmt: skip
    upsampling = forms.BooleanField(
        label=_("FineWeb-2 upsampling by cluster size"), required=False,
        help_text=_("Repeat documents with more near-duplicates more often, up to a point, as FineWeb-2 does."),
    )  # fmt: skip
    max_epochs = forms.IntegerField(
        label=_("Most repeats of one document"), required=False, initial=4, min_value=1,
        help_text=_("Epochs: a mixture writes no document more often. Beyond 4, repeated data is worth far less "
                    "than new data; a token budget that needs more is refused."),
    )  # fmt: skip
    mixture = forms.CharField(
        label=_("Mixture (JSON)"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_('JSON, e.g. {"tokens": {"de": 1000000}, "replay": {"language": "en", "share": 0.1}}'),
    )  # fmt: skip
    tokenizer = forms.CharField(
        label=_("Tokenizer"), required=False,
        help_text=_("Path of the base model's tokenizer.json, for the dataset card's fertility (tokens per word)."),
    )  # fmt: skip
    override_reason = forms.CharField(
        label=_("Reason to build despite licence conflicts"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Only to build despite licence conflicts: why, for the record."),
    )  # fmt: skip

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
            "max_epochs": data["max_epochs"],
            "splits": {"train": data["train"], "validation": data["validation"], "test": data["test"]},
            "seed": data["seed"],
            "tokenizer": data["tokenizer"],
        }


class WithdrawalForm(forms.Form):
    line = forms.CharField(
        label=_("Line"), required=False, max_length=400,
        help_text=_("Only the record at this line, as the submission's page shows it (7, or docs/a.jsonl:7); "
                    "empty for the whole submission."),
    )  # fmt: skip
    # The checkboxes of the submission page's lists of lines; "picked" says the
    # request came from one, so that no box ticked never means "everything".
    lines = forms.Field(required=False, widget=forms.MultipleHiddenInput)
    picked = forms.BooleanField(required=False, widget=forms.HiddenInput)
    reason = forms.CharField(
        label=_("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Optional: why it is withdrawn, for the record."),
    )  # fmt: skip

    def clean_lines(self) -> list[str]:
        lines = [str(line).strip() for line in self.cleaned_data["lines"] or [] if str(line).strip()]
        if len(lines) > 10_000 or any(len(line) > 400 for line in lines):
            raise forms.ValidationError("Too many lines, or a line too long.")
        return lines

    def clean(self):
        data = super().clean()
        if data.get("line"):
            data["lines"] = [*data.get("lines", []), data["line"]]
        if data.get("picked") and not data.get("lines"):
            raise forms.ValidationError(_("Tick at least one line to withdraw."))
        return data
