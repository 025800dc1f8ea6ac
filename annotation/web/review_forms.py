"""The answer form of the work page, built for one queue's scales and one record's fields."""

import json

from django import forms
from django.utils.translation import gettext_lazy as _

from annotation.models import Annotation
from annotation.models.review import RATING_MAX, RATING_MIN, Flag
from annotation.models.submissions import Kind
from occiportal.controls import holds_nul, nul_message

RATING_CHOICES = [(str(n), str(n)) for n in range(RATING_MIN, RATING_MAX + 1)]
# Fields of a record's content a person corrects as text; the rest (messages,
# choices) are edited as JSON.
TEXT_FIELDS = ("system", "prompt", "response", "text", "question")
# The field the "e" shortcut puts the cursor in: what people correct most.
PRIMARY_FIELDS = ("response", "text", "question", "prompt", "system")


class AnswerForm(forms.Form):
    action = forms.ChoiceField(choices=Annotation.Action.choices)
    reason = forms.CharField(
        label=_("Reason"), required=False, max_length=2000,
        help_text=_("Needed to reject. Press Enter to reject with it."),
    )
    flags = forms.MultipleChoiceField(
        label=_("Flags"), required=False, choices=Flag.choices, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, queue, content, **kwargs):
        super().__init__(*args, **kwargs)
        self.content = content if isinstance(content, dict) else {}
        self.scales = list(queue.rating_scales)
        for scale in self.scales:
            self.fields[f"rating_{scale}"] = forms.TypedChoiceField(
                label=scale.replace("_", " ").capitalize(), choices=RATING_CHOICES, coerce=int,
                required=False, empty_value=None, widget=forms.RadioSelect,
            )
        self.text_fields = [key for key in TEXT_FIELDS if isinstance(self.content.get(key), str)]
        for key in self.text_fields:
            self.fields[f"edit_{key}"] = forms.CharField(
                label=key.capitalize(), required=False, initial=self.content[key], strip=False,
                widget=forms.Textarea(attrs={"rows": 6 if key in ("text", "response") else 3}),
            )
        primary = next((f"edit_{key}" for key in PRIMARY_FIELDS if key in self.text_fields), "edit_json")
        if not self.text_fields:
            self.fields["edit_json"] = forms.CharField(
                label=_("Content (JSON)"), required=False, widget=forms.Textarea(attrs={"rows": 8}),
                initial=json.dumps(self.content, ensure_ascii=False, indent=2),
            )
        self.fields[primary].widget.attrs["data-edit-primary"] = ""

    def rating_fields(self):
        return [self[f"rating_{scale}"] for scale in self.scales]

    def edit_fields(self):
        return [self[name] for name in self.fields if name.startswith("edit_")]

    def clean(self):
        data = super().clean()
        data["ratings"] = {s: data.get(f"rating_{s}") for s in self.scales if data.get(f"rating_{s}") is not None}
        data["edited_content"] = self._edited() if data.get("action") == Annotation.Action.EDIT else None
        return data

    def _edited(self):
        if not self.text_fields:
            try:
                edited = json.loads(self.cleaned_data.get("edit_json") or "")
            except ValueError:
                self.add_error("edit_json", _("This is not valid JSON."))
                return None
            if holds_nul(edited):  # "\u0000" decodes to a NUL the CharField never saw
                self.add_error("edit_json", nul_message())
                return None
            return edited
        return {**self.content, **{key: self.cleaned_data.get(f"edit_{key}", "") for key in self.text_fields}}


class PreferenceForm(forms.Form):
    """The work page of a preference item: one ``answer`` button, the responses named by the position shown.

    ``answer`` is "best-<position>", "ranking" (with ``ranking``: the
    positions, best first, comma-separated), "tie", "both_bad", "flag" or
    "skip". ``cleaned_data`` gives ``action`` and ``judgement`` with the
    responses by their stored number, through the order shown.
    """

    answer = forms.CharField(label=_("Answer"), max_length=16)
    ranking = forms.CharField(required=False, max_length=64)
    written = forms.CharField(
        label=_("A better response"), required=False, max_length=20000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("Optional: it becomes a new pair, your response preferred to the best one here."),
    )
    flags = forms.MultipleChoiceField(
        label=_("Flags"), required=False, choices=Flag.choices, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, shown_order, **kwargs):
        super().__init__(*args, **kwargs)
        self.shown_order = shown_order

    def clean(self):
        data = super().clean()
        answer = data.get("answer", "")
        written = {"written": data["written"]} if data.get("written", "").strip() else {}
        data["action"], data["judgement"] = Annotation.Action.JUDGE, None
        if answer in ("flag", "skip"):
            data["action"] = answer
        elif answer in ("tie", "both_bad"):
            data["judgement"] = {"type": answer} | written
        elif answer.startswith("best-"):
            data["judgement"] = {"type": "best", "best": self._stored(answer.removeprefix("best-"))} | written
        elif answer == "ranking":
            ranking = [self._stored(p) for p in (data.get("ranking") or "").split(",") if p.strip()]
            data["judgement"] = {"type": "ranking", "ranking": ranking} | written
        else:
            raise forms.ValidationError(_("Pick the better response, rank them, or say tie or both bad."))
        return data

    def _stored(self, position: str):
        # Shown positions count from 1; an unknown one is left for the service to refuse.
        number = int(position) if position.strip().isdigit() else 0
        return self.shown_order[number - 1] if 1 <= number <= len(self.shown_order) else -1


class AdjudicationForm(forms.Form):
    outcome = forms.ChoiceField(choices=[("accepted", _("Accept")), ("rejected", _("Reject"))])
    note = forms.CharField(label=_("Note"), required=False, max_length=2000)
    best = forms.TypedChoiceField(
        label=_("Best response"), required=False, coerce=lambda n: int(n) - 1, empty_value=None,
        choices=[(str(n), str(n)) for n in range(1, 10)],  # shown from 1, stored from 0
    )


class WritingForm(forms.Form):
    """A new record of the queue's kind, as its author types it."""

    FIELDS = {
        "pretraining": ["text"],
        "instruction": ["prompt", "response"],
        "conversation": ["user", "assistant"],
        "evaluation": ["question", "choices", "answer"],
    }
    text = forms.CharField(label=_("Text"), widget=forms.Textarea(attrs={"rows": 10}), max_length=50_000)
    prompt = forms.CharField(label=_("Prompt"), widget=forms.Textarea(attrs={"rows": 4}), max_length=20_000)
    response = forms.CharField(label=_("Response"), widget=forms.Textarea(attrs={"rows": 8}), max_length=50_000)
    user = forms.CharField(label=_("User's message"), widget=forms.Textarea(attrs={"rows": 4}), max_length=20_000)
    assistant = forms.CharField(label=_("Assistant's answer"), widget=forms.Textarea(attrs={"rows": 8}), max_length=50_000)
    question = forms.CharField(label=_("Question"), widget=forms.Textarea(attrs={"rows": 3}), max_length=10_000)
    choices = forms.CharField(
        label=_("Choices"), widget=forms.Textarea(attrs={"rows": 4}), help_text=_("One answer per line."), max_length=10_000
    )
    answer = forms.IntegerField(label=_("Correct choice"), min_value=1, help_text=_("Its line number: 1 for the first."))
    source_record = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, kind, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        for name in [n for n in self.fields if n not in self.FIELDS[kind] and n != "source_record"]:
            del self.fields[name]

    def content(self) -> dict:
        """The record as ``annotation.ingest.schemas`` expects it for this kind."""
        data = self.cleaned_data
        if self.kind == "conversation":
            return {"messages": [{"role": "user", "content": data["user"]}, {"role": "assistant", "content": data["assistant"]}]}
        if self.kind == "evaluation":
            choices = [line.strip() for line in data["choices"].splitlines() if line.strip()]
            return {"question": data["question"], "choices": choices, "answer": data["answer"] - 1}
        return {name: data[name] for name in self.FIELDS[self.kind]}


class QueueForm(forms.Form):
    """A new queue; ``queue_create`` fills in the per-kind defaults left blank."""

    name = forms.CharField(label=_("Name"), max_length=200)
    language = forms.ModelChoiceField(label=_("Language"), queryset=None, to_field_name="code")
    kind = forms.ChoiceField(label=_("Kind of data"), choices=Kind.choices)
    guidelines = forms.CharField(
        label=_("Guidelines"), required=False, widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("Markdown, shown beside every item."),
    )
    overlap = forms.IntegerField(
        label=_("Overlap"), required=False, min_value=1, max_value=9,
        help_text=_("Distinct annotators per record. Blank: 1 for pretraining documents, 2 otherwise."),
    )
    consensus = forms.IntegerField(
        label=_("Consensus"), required=False, min_value=1, max_value=9,
        help_text=_("How many of them must agree. Blank: all of them."),
    )
    sample_rate = forms.FloatField(
        label=_("Sample rate"), initial=1.0, min_value=0.0001, max_value=1.0,
        help_text=_("Pretraining documents only: the share of each submission that is reviewed."),
    )
    rating_scales = forms.CharField(
        label=_("Rating scales"), required=False, initial="fluency, correctness, helpfulness",
        help_text=_("Names of the 1–5 scales, separated by commas."),
    )

    def __init__(self, *args, languages, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["language"].queryset = languages

    def clean_rating_scales(self):
        names = [name.strip().lower().replace(" ", "_") for name in self.cleaned_data["rating_scales"].split(",")]
        return [name for name in names if name]


class CertificationForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    language_code = forms.CharField(
        label=_("Language or variant"), max_length=35, help_text=_('"de", or a variant such as "pt-BR".')
    )
