"""The form staff start a training run with; defaults are TrainConfig's (training/jobs/spec.py)."""

import dataclasses

from django import forms
from django.utils.translation import gettext_lazy as _

from training.jobs.spec import TrainConfig
from training.models import BaseModel, EvaluationSuite, Snapshot, TrainingRun

DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING}
# The hyper-parameters the form shows; the rest keep their defaults.
SHOWN = {
    "learning_rate": forms.FloatField, "epochs": forms.FloatField, "max_steps": forms.IntegerField,
    "batch_size": forms.IntegerField, "grad_accum": forms.IntegerField, "seq_len": forms.IntegerField,
    "warmup_ratio": forms.FloatField, "lora_r": forms.IntegerField, "lora_alpha": forms.IntegerField,
    "seed": forms.IntegerField, "save_every": forms.IntegerField,
}  # fmt: skip


class TrainingRunForm(forms.Form):
    snapshot = forms.ModelChoiceField(Snapshot.objects.filter(status=Snapshot.Status.READY))
    base_model = forms.ModelChoiceField(BaseModel.objects.all())
    method = forms.ChoiceField(choices=TrainingRun.Method.choices)
    finetuning = forms.ChoiceField(choices=TrainingRun.Finetuning.choices)
    eval_suites = forms.ModelMultipleChoiceField(
        EvaluationSuite.objects.all(), required=False, help_text=_("Evaluated on these once training succeeds.")
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in SHOWN.items():
            self.fields[name] = field(required=name == "learning_rate", initial=DEFAULTS[name], min_value=0)

    def hyperparameters(self) -> dict:
        return {name: self.cleaned_data[name] for name in SHOWN if self.cleaned_data.get(name) is not None}
