"""Will a training run work: data for its method, and memory on its GPUs (training/services/fit_estimate.py).

Checked when a run is created, so staff read what to change on the form or
the command line instead of a traceback from the GPU worker.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from training.services.fit_estimate import Estimate, Hardware, ModelShape, advice, estimate, steps_for
from training.jobs.contract import Resources, SpecError, TrainConfig, resources_config, sharded, train_config
from training.models import BaseModel, Snapshot

# The record kinds (annotation/ingest/schemas.py) each method trains on (training/jobs/data.py).
METHOD_KINDS = {"cpt": {"pretraining"}, "sft": {"instruction", "conversation"}, "dpo": {"preference"}}
# What to change, by training/services/fit_estimate.py's advice code.
ADVICE = {
    "shard": gettext_lazy("shard the full fine-tune over several GPUs (sharding \"auto\" or \"fsdp\"), "
                          "or fine-tune with LoRA"),
    "lora": gettext_lazy("fine-tune with LoRA, or use a smaller model"),
    "smaller_model": gettext_lazy("use a smaller model"),
    "gradient_checkpointing": gettext_lazy("turn on gradient checkpointing, or lower the batch size or sequence length"),
    "smaller_batch": gettext_lazy("lower the batch size or sequence length, and raise gradient accumulation "
                                  "to keep the global batch"),
}


def training_run_estimate(
    *, snapshot: Snapshot, base_model: BaseModel, method: str, finetuning: str, hyperparameters: dict, resources: dict
) -> Estimate | None:
    """The run's estimate; None where the base model's ``config.json`` is not on this server or lacks a size.

    Raises ``ValidationError``: under ``hyperparameters`` or ``resources`` for
    a field their classes (training/jobs/contract.py) lack or a mistyped value;
    without a field when the snapshot holds no records for ``method`` or the
    run needs more memory per GPU than ``TRAINING["GPU_MEMORY_GB"]``, with a
    message that says what to change.
    """
    return _fit_check(snapshot, base_model, method, finetuning, _parsed("hyperparameters", train_config, hyperparameters),
                      _parsed("resources", resources_config, resources))  # fmt: skip


def _parsed(name: str, parse, data: dict):
    try:
        return parse(data)
    except SpecError as exc:
        raise ValidationError({name: str(exc)}) from exc


def _fit_check(
    snapshot: Snapshot, base_model: BaseModel, method: str, finetuning: str, config: TrainConfig, resources: Resources
) -> Estimate | None:
    _check_method_data(snapshot, method)
    shape = _model_shape(Path(base_model.source))
    if shape is None:
        return None
    hardware = Hardware(settings.TRAINING["GPU_MEMORY_GB"], settings.TRAINING["GPU_PEAK_TFLOPS"], settings.TRAINING["GPU_MFU"])
    gpus = resources.world_size
    steps = config.max_steps or steps_for(
        _examples(snapshot, method, config.seq_len), epochs=config.epochs, batch_size=config.batch_size,
        grad_accum=config.grad_accum, gpus=gpus,
    )  # fmt: skip
    shards = sharded(config.sharding, finetuning=finetuning, gpus=gpus)
    result = estimate(
        shape, finetuning=finetuning, seq_len=config.seq_len,
        batch_size=config.batch_size, steps=steps, grad_accum=config.grad_accum, gpus=gpus,
        gradient_checkpointing=config.gradient_checkpointing, sharded=shards, lora_r=config.lora_r, method=method,
        bf16=config.bf16 is not False, hardware=hardware,  # "auto" is bf16 on the GPUs this checks for
    )  # fmt: skip
    if not result.fits:
        raise ValidationError(_does_not_fit(result, finetuning, config, shards, hardware), code="does_not_fit")
    return result


def estimate_summary(result: Estimate) -> dict:
    """The figures a run records and ``manage.py train`` prints."""
    return {"parameters": result.parameters, "memory_gb_per_gpu": round(result.memory_gb, 1),
            "tokens": result.tokens, "hours": round(result.hours, 2)}  # fmt: skip


def _check_method_data(snapshot: Snapshot, method: str) -> None:
    kinds = snapshot.parameters.get("kinds")
    if kinds is not None and not METHOD_KINDS[method] & set(kinds):
        raise ValidationError(
            _("Snapshot %(label)s holds no %(needed)s records, which %(method)s trains on (it holds: %(held)s). "
              "Choose another method or a snapshot built with those kinds.")
            % {"label": snapshot.label, "needed": " or ".join(sorted(METHOD_KINDS[method])), "method": method,
               "held": ", ".join(kinds)},
            code="no_data_for_method",
        )  # fmt: skip


def _model_shape(folder: Path) -> ModelShape | None:
    try:
        return ModelShape.from_folder(folder)
    except (OSError, ValueError, KeyError, TypeError):  # no config here (a hub id), or not a decoder it knows
        return None


def _examples(snapshot: Snapshot, method: str, seq_len: int) -> int:
    """Training examples the job will make from the train split: packed sequences of documents (cpt), or one
    per row (sft; dpo: snapshots write one row per pair, so a ranking counts all its pairs).

    The job reads only its method's kinds (training/jobs/data.py). Evaluation items are never in train, so a
    snapshot of the method's kinds and evaluation items is counted from its split figures, exactly. One that
    mixes in other kinds is counted from its lineage (per submission, so per kind).
    """
    kinds = set(snapshot.parameters.get("kinds") or ()) - {"evaluation"}
    if kinds <= METHOD_KINDS[method]:  # no kinds recorded: a snapshot of one kind, as before kinds were chosen
        records, tokens = _train(snapshot)
    elif method == "dpo":
        # A written pair is tallied under its own submission and credited to its source's too (both licences
        # apply): preference lineage counts it twice, so the pairs are what the other kinds leave of the split.
        return _train(snapshot)[0] - _train_of(snapshot, kinds - {"preference"})[0]
    else:
        records, tokens = _train_of(snapshot, METHOD_KINDS[method])
    return tokens // seq_len if method == "cpt" else records


def _train(snapshot: Snapshot) -> tuple[int, int]:
    """Rows and tokens of the snapshot's train split, all languages."""
    splits = [languages.get("train", {}) for languages in snapshot.counts.values()]
    return sum(split.get("records", 0) for split in splits), sum(split.get("tokens", 0) for split in splits)


def _train_of(snapshot: Snapshot, kinds: set[str]) -> tuple[int, int]:
    """Train rows of the submissions of ``kinds``, and their tokens: lineage keeps tokens for all splits
    together, so a submission's are shared out by its rows (an estimate)."""
    records = tokens = 0
    rows = snapshot.lineage.filter(submission__kind__in=kinds).values_list("records", "tokens", "splits")
    for total, count, splits in rows:
        train = splits.get("train", 0)
        records += train
        tokens += count * train // total if total else 0
    return records, tokens


def _does_not_fit(result: Estimate, finetuning: str, config: TrainConfig, shards: bool, hardware: Hardware) -> str:
    code = advice(result, finetuning=finetuning, gradient_checkpointing=config.gradient_checkpointing, sharded=shards,
                  hardware=hardware)  # fmt: skip
    change = ADVICE[code]
    return _(
        "This run needs about %(needed).0f GB per GPU (%(state).0f GB of weights, gradients and optimizer state, "
        "%(activations).0f GB of activations); the GPUs have %(memory).0f GB. To make it fit: %(change)s."
    ) % {"needed": result.memory_gb, "state": result.state_gb, "activations": result.activations_gb,
         "memory": hardware.memory_gb, "change": change}  # fmt: skip
