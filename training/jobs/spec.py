"""The job spec: everything a GPU host needs to run one training or evaluation job.

A spec is self-contained (no database, no portal URLs): the portal writes it as
JSON, the worker hands it to ``python -m training.jobs SPEC.json``, and the job
saves it again next to every checkpoint so a checkpoint says how it was made.

This module imports only the standard library, so the portal may build specs
without pulling in torch.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

KINDS = ("train", "evaluate")
METHODS = ("cpt", "sft")
FINETUNING = ("full", "lora")
# "org/name" as the Hugging Face hub spells it; anything else is a local path.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class SpecError(ValueError):
    """The spec is malformed or points outside the storage it may use."""


@dataclass
class TrainConfig:
    """Hyper-parameters of a training job. Defaults suit a 7B LoRA/full run on one H100."""

    learning_rate: float = 2e-5
    min_lr_ratio: float = 0.1  # cosine decays to learning_rate * min_lr_ratio
    epochs: float = 1.0
    max_steps: int | None = None  # optimizer steps; overrides epochs when set
    batch_size: int = 8  # sequences per micro-batch
    grad_accum: int = 1  # micro-batches per optimizer step
    seq_len: int = 2048
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    adam_betas: tuple[float, float] = (0.9, 0.95)
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    seed: int = 1234
    save_every: int = 500  # optimizer steps between checkpoints
    keep_checkpoints: int = 2  # older checkpoint-<step>/ folders are deleted
    log_every: int = 10  # optimizer steps between progress events
    heartbeat_seconds: float = 30.0
    bf16: bool | str = "auto"  # "auto": bf16 on a GPU that supports it, fp32 elsewhere
    gradient_checkpointing: bool = False
    # torch.compile the decoder stack. "auto": on CUDA where a C compiler is
    # found (Triton builds its launchers with one); never on CPU.
    torch_compile: bool | str = "auto"
    # Cross-entropy over this many tokens at a time, from the hidden states:
    # the [tokens, vocab] logits, their fp32 copy and gradient are never whole.
    # 0 computes the full logits, as model(...).logits would.
    loss_chunk_tokens: int = 4096


@dataclass
class EvalConfig:
    """What an evaluation job reads and how much of it."""

    suites: list[str] = field(default_factory=list)  # folders of <lang>.jsonl files
    max_items: int | None = None  # per language and task; None = all
    batch_size: int = 8
    max_length: int | None = None  # context window; default: the model's
    add_bos_token: bool = False  # lm-eval's HFLM default


@dataclass
class JobSpec:
    """One job. Paths are local paths on the GPU host (the worker stages object-store URIs)."""

    run_id: str
    kind: str  # "train" | "evaluate"
    base_model: str  # local folder (or hub id, only usable where the hub is cached)
    output_dir: str
    # Hub id: the commit or tag to load (empty: the default branch). Local
    # folder: "sha256:<hex>" of its files (training/jobs/revision.py), checked
    # before loading; empty: not pinned, the job records what it found.
    base_model_revision: str = ""
    method: str = "cpt"  # "cpt" continual pre-training | "sft" instruction tuning
    finetuning: str = "full"  # "full" | "lora"
    snapshot_dir: str | None = None
    snapshot_sha256: str | None = None  # sha256 of <snapshot_dir>/manifest.json
    snapshot_name: str = ""
    partners: list[str] = field(default_factory=list)  # whose data is in the snapshot
    languages: list[str] | None = None  # None = every language folder of the snapshot
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        if not self.run_id:
            raise SpecError("run_id is required")
        _check_choice("kind", self.kind, KINDS)
        _check_choice("method", self.method, METHODS)
        _check_choice("finetuning", self.finetuning, FINETUNING)
        if self.kind == "train" and not self.snapshot_dir:
            raise SpecError("a training job needs snapshot_dir")
        if self.kind == "evaluate" and not self.eval.suites:
            raise SpecError("an evaluation job needs eval.suites")
        if self.train.torch_compile not in (True, False, "auto"):
            raise SpecError("train.torch_compile must be true, false or \"auto\"")
        if self.train.loss_chunk_tokens < 0:
            raise SpecError("train.loss_chunk_tokens must be 0 (full logits) or more")

    # -- JSON -----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        data = dict(data)
        train = _build(TrainConfig, data.pop("train", None) or {})
        evaluation = _build(EvalConfig, data.pop("eval", None) or {})
        return _build(cls, {**data, "train": train, "eval": evaluation})

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"spec is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise SpecError("spec must be a JSON object")
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | Path) -> JobSpec:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise SpecError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _build(klass: type, data: dict[str, Any]):
    # Unknown keys are an error rather than silently ignored: a typo in a
    # hyper-parameter name would otherwise train with the default.
    names = {f.name for f in dataclasses.fields(klass)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise SpecError(f"unknown {klass.__name__} fields: {', '.join(unknown)}")
    if "adam_betas" in data:
        data = {**data, "adam_betas": tuple(data["adam_betas"])}
    try:
        return klass(**data)
    except TypeError as exc:
        raise SpecError(str(exc)) from exc


# -- path confinement ----------------------------------------------------------


def is_local_model(reference: str) -> bool:
    """A model reference is a local path unless it reads as a hub id ("org/name")."""
    return bool(reference) and (
        reference.startswith(("/", ".", "~")) or not _HUB_ID.match(reference) or Path(reference).exists()
    )


def validate_paths(spec: JobSpec, allowed_roots: Iterable[str | Path]) -> None:
    """Raise SpecError unless every local path of the spec lies inside an allowed root.

    Paths are resolved (symlinks followed) before the check, so a link inside a
    root that points outside it is rejected; any ``..`` component is rejected
    outright, even one that would resolve back inside.
    """
    roots = [Path(root).expanduser().resolve() for root in allowed_roots]
    if not roots:
        raise SpecError("no allowed storage roots configured")
    paths = {"output_dir": spec.output_dir}
    if spec.snapshot_dir:
        paths["snapshot_dir"] = spec.snapshot_dir
    if is_local_model(spec.base_model):
        paths["base_model"] = spec.base_model
    elif ".." in spec.base_model.split("/"):
        raise SpecError("base_model must not contain '..'")
    for index, suite in enumerate(spec.eval.suites):
        paths[f"eval.suites[{index}]"] = suite
    for name, raw in paths.items():
        _confine(name, raw, roots)


def _confine(name: str, raw: str, roots: list[Path]) -> None:
    if not raw:
        raise SpecError(f"{name} is empty")
    path = Path(raw).expanduser()
    if ".." in path.parts:
        raise SpecError(f"{name} must not contain '..': {raw}")
    resolved = path.resolve()
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        raise SpecError(f"{name} is outside the allowed storage roots: {raw}")
