"""The form staff start a training run with; defaults are TrainConfig's (training/jobs/contract.py)."""

import dataclasses

from django import forms
from django.utils.translation import gettext_lazy as _

from training.jobs.contract import TrainConfig
from training.models import BaseModel, EvaluationSuite, Snapshot, TrainingRun

DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING}
# The hyper-parameters the form shows, with their labels and help; the rest keep their defaults.
SHOWN = {
    "learning_rate": (forms.FloatField, _("Learning rate"),
                      _("Peak learning rate, reached after the warm-up; then it decays on a cosine.")),
    "epochs": (forms.FloatField, _("Epochs"), _("Passes over the training split; fractions allowed.")),
    "max_steps": (forms.IntegerField, _("Maximum steps"), _("Optimizer steps; when given, it overrides the epochs.")),
    "batch_size": (forms.IntegerField, _("Batch size"), _("Sequences per micro-batch on the GPU.")),
    "grad_accum": (forms.IntegerField, _("Gradient accumulation steps"), _("Micro-batches per optimizer step.")),
    "seq_len": (forms.IntegerField, _("Sequence length (tokens)"), _("Tokens per training sequence.")),
    "warmup_ratio": (forms.FloatField, _("Warm-up share of steps"),
                     _("Share of the steps over which the learning rate rises to its peak, from 0 to 1.")),
    "lora_r": (forms.IntegerField, _("LoRA rank"), _("Rank of the adapter matrices; LoRA runs only.")),
    "lora_alpha": (forms.IntegerField, _("LoRA alpha"), _("Scaling of the adapter's update; LoRA runs only.")),
    "seed": (forms.IntegerField, _("Random seed"), _("The same seed, data and settings give the same run.")),
    "save_every": (forms.IntegerField, _("Checkpoint every (steps)"),
                   _("Optimizer steps between checkpoints, from which a failed attempt resumes.")),
}  # fmt: skip


class TrainingRunForm(forms.Form):
    snapshot = forms.ModelChoiceField(
        Snapshot.objects.filter(status=Snapshot.Status.READY), label=_("Snapshot"),
        help_text=_("The ready snapshot to train on."),
    )  # fmt: skip
    base_model = forms.ModelChoiceField(
        BaseModel.objects.all(), label=_("Base model"), help_text=_("The model training starts from.")
    )
    method = forms.ChoiceField(
        label=_("Method"), choices=TrainingRun.Method.choices,
        help_text=_("Continual pre-training on documents, instruction tuning on pairs and conversations, or "
                    "preference optimisation (DPO) on chosen and rejected answers."),
    )  # fmt: skip
    finetuning = forms.ChoiceField(
        label=_("Fine-tuning"), choices=TrainingRun.Finetuning.choices,
        help_text=_("All of the model's weights, or a small LoRA adapter beside them."),
    )  # fmt: skip
    eval_suites = forms.ModelMultipleChoiceField(
        EvaluationSuite.objects.all(), required=False, label=_("Evaluation suites"),
        help_text=_("Evaluated on these once training succeeds."),
    )  # fmt: skip

    gradient_checkpointing = forms.BooleanField(
        label=_("Gradient checkpointing"), required=False, initial=DEFAULTS["gradient_checkpointing"],
        help_text=_("Recompute activations in the backward pass: far less memory for about a third more time."),
    )  # fmt: skip
    gpus_per_node = forms.IntegerField(
        label=_("GPUs per node"), min_value=1, initial=1, required=False,
        help_text=_("One training process per GPU; several run under torchrun."),
    )  # fmt: skip
    nodes = forms.IntegerField(
        label=_("Nodes"), min_value=1, initial=1, required=False, help_text=_("Hosts; more than one runs as a Slurm batch job."),
    )  # fmt: skip

    withdrawn_reason = forms.CharField(
        label=_("Reason to train on withdrawn data"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Needed when the snapshot holds data withdrawn since its build; "
                    "recorded on the run and shown on its page."),
    )  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, (field, label, help_text) in SHOWN.items():
            self.fields[name] = field(
                label=label, help_text=help_text, required=name == "learning_rate", initial=DEFAULTS[name], min_value=0
            )

    def hyperparameters(self) -> dict:
        shown = {name: self.cleaned_data[name] for name in SHOWN if self.cleaned_data.get(name) is not None}
        return {**shown, "gradient_checkpointing": self.cleaned_data["gradient_checkpointing"]}

    def resources(self) -> dict:
        """Resources fields (training/jobs/contract.py); one GPU on one node where left empty."""
        return {"gpus_per_node": self.cleaned_data["gpus_per_node"] or 1, "nodes": self.cleaned_data["nodes"] or 1}
