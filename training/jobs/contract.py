"""The job contract: all that passes between the portal and a GPU job, typed and versioned.

The portal imports nothing else from training/jobs, and the jobs nothing from
the portal (tests/test_boundaries.py). Two halves:

- the **spec** (:class:`JobSpec`): everything a GPU host needs to run one
  training or evaluation job. It is self-contained (no database, no portal
  URLs): the portal writes it as JSON, the worker hands it to
  ``python -m training.jobs SPEC.json``, and the job saves it again next to
  every checkpoint so a checkpoint says how it was made;
- the **events** (:class:`Start`, :class:`Progress`, :class:`Checkpoint`,
  :class:`Heartbeat`, :class:`Done`, :class:`Error`): what a job reports, one
  JSON line each, forwarded by the worker to the portal's ``record_event``.
  :func:`event_from_dict` is the one way to read one back.

Both carry ``schema``: a reader refuses a version it does not know rather than
guess at its fields, and refuses unknown fields and values of the wrong type.
The metric names an evaluation reports are :data:`METRICS`.

Standard library only, so the portal and the GPU worker use it without torch.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import json
import re
import struct
import subprocess
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

# Of specs and events; raise it when a field changes meaning or goes away. A
# new optional field does not raise it: a spec or event without it still reads
# the same, and a reader that predates it refuses it as an unknown field anyway.
SCHEMA_VERSION = 1
# The wire: the portal sends a spec (as JSON, and the attempt) to RUN_JOB_TASK on
# GPU_QUEUE; the GPU worker sends each event, numbered, to RECORD_EVENT_TASK on
# EVENTS_QUEUE. By task name: neither side imports the other's tasks.
RUN_JOB_TASK = "training.gpu_worker.run_job"
RECORD_EVENT_TASK = "training.run_tasks.record_event"
GPU_QUEUE = "gpu"
EVENTS_QUEUE = "default"
KINDS = ("train", "evaluate")
STORE_SCHEME = "s3://"  # an object-store location: s3://bucket/key-prefix (S3, MinIO)
METHODS = ("cpt", "sft", "dpo")  # continual pre-training, instruction tuning, preference optimisation
FINETUNING = ("full", "lora")
SHARDING = ("auto", "none", "fsdp")
# "org/name" as the Hugging Face hub spells it; anything else is a local path.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class ContractError(ValueError):
    """Something read across the contract is malformed: unknown version, field or type."""


class SpecError(ContractError):
    """The spec is malformed or points outside the storage it may use."""


class EventError(ContractError):
    """An event is malformed: not an object, an unknown kind or version, an unknown or mistyped field."""


@dataclass
class TrainConfig:
    """Hyper-parameters of a training job.

    The defaults (8 sequences of 2048 tokens per GPU) are a starting point, not
    a fit: a 7B model on an 80 GB GPU needs gradient checkpointing (LoRA) or
    several GPUs (full); training/services/fit_estimate.py says before the run starts.
    """

    learning_rate: float = 2e-5
    min_lr_ratio: float = 0.1  # cosine decays to learning_rate * min_lr_ratio
    epochs: float = 1.0
    max_steps: int | None = None  # optimizer steps; overrides epochs when set
    batch_size: int = 8  # sequences per micro-batch on each GPU (the global batch: × GPUs × grad_accum)
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
    # How a full fine-tune spreads over more than one GPU: "none" keeps a whole
    # replica on each, "fsdp" shards weights, gradients and AdamW state over them
    # (training/jobs/train.py). "auto": fsdp. See sharded() below.
    sharding: str = "auto"
    # DPO (method "dpo"): the sigmoid loss's beta, TRL's default. batch_size
    # counts preference pairs, each two sequences (prompt + chosen, prompt + rejected).
    dpo_beta: float = 0.1

    def __post_init__(self) -> None:
        # Checked here, not on the GPU host after loading the model: the loop divides by these
        # (save_every, log_every, batch_size), a heartbeat every 0 s floods stdout, and a
        # grad_accum of 0 would run every step on no data and report success.
        for name in ("batch_size", "grad_accum", "seq_len", "save_every", "log_every", "heartbeat_seconds"):
            if getattr(self, name) <= 0:
                raise SpecError(f"train.{name} must be more than 0")


@dataclass
class Resources:
    """Where a job runs: ``nodes`` hosts with ``gpus_per_node`` processes each (training/jobs/runner.py).

    One process per GPU; more than one in all starts the job under ``torchrun``,
    more than one node through a Slurm batch job.
    """

    gpus_per_node: int = 1
    nodes: int = 1

    @property
    def world_size(self) -> int:
        return self.gpus_per_node * self.nodes


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
    """One job.

    ``snapshot_dir`` and, for an evaluation, ``base_model`` are local paths or
    ``s3://`` URIs, which the job fetches into its cache and checks
    (training/run_store.py). ``output_dir`` is always local: the job's
    working folder, and the folder through which the portal signals
    (training/job_control.py). With ``output_uri``, every checkpoint and the
    final model are copied there, so another host can resume from them.
    """

    run_id: str
    kind: str  # "train" | "evaluate"
    base_model: str  # local folder (or hub id, only usable where the hub is cached)
    output_dir: str
    # Hub id: the commit or tag to load (empty: the default branch). Local
    # folder: "sha256:<hex>" of its files (training/jobs/revision.py), checked
    # before loading; empty: not pinned, the job records what it found.
    base_model_revision: str = ""
    method: str = "cpt"  # "cpt" continual pre-training | "sft" instruction tuning | "dpo" preference optimisation
    finetuning: str = "full"  # "full" | "lora"
    snapshot_dir: str | None = None  # a folder, or s3://… (then snapshot_sha256 is required)
    snapshot_sha256: str | None = None  # sha256 of <snapshot_dir>/manifest.json
    output_uri: str | None = None  # s3://… where checkpoints and the final model are kept; None: output_dir only
    snapshot_name: str = ""
    partners: list[str] = field(default_factory=list)  # whose data is in the snapshot
    languages: list[str] | None = None  # None = every language folder of the snapshot
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    resources: Resources = field(default_factory=Resources)
    # Specs stored before the contract was versioned have none: they are version 1.
    schema: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.schema != SCHEMA_VERSION:
            raise SpecError(f"spec schema {self.schema!r} is not {SCHEMA_VERSION}, the one this code reads")
        if self.resources.gpus_per_node < 1 or self.resources.nodes < 1:
            raise SpecError("resources.gpus_per_node and resources.nodes must be 1 or more")
        if not self.run_id:
            raise SpecError("run_id is required")
        _check_choice("kind", self.kind, KINDS)
        _check_choice("method", self.method, METHODS)
        _check_choice("finetuning", self.finetuning, FINETUNING)
        if self.kind == "train" and not self.snapshot_dir:
            raise SpecError("a training job needs snapshot_dir")
        if self.kind == "evaluate" and not self.eval.suites:
            raise SpecError("an evaluation job needs eval.suites")
        if is_store_uri(self.snapshot_dir) and not self.snapshot_sha256:
            # The fetched copy is checked against it and cached under it.
            raise SpecError("a snapshot in the object store needs snapshot_sha256")
        if self.output_uri and not is_store_uri(self.output_uri):
            raise SpecError(f"output_uri must be an {STORE_SCHEME} URI; got {self.output_uri!r}")
        if is_store_uri(self.output_dir):
            raise SpecError("output_dir is the job's local folder; an object-store location goes in output_uri")
        if self.train.torch_compile not in (True, False, "auto"):
            raise SpecError("train.torch_compile must be true, false or \"auto\"")
        _check_choice("train.sharding", self.train.sharding, SHARDING)
        if self.train.dpo_beta <= 0:
            raise SpecError("train.dpo_beta must be more than 0")
        if self.train.loss_chunk_tokens < 0:
            raise SpecError("train.loss_chunk_tokens must be 0 (full logits) or more")
        if self.resources.gpus_per_node < 1 or self.resources.nodes < 1:
            raise SpecError("resources.gpus_per_node and resources.nodes must be 1 or more")

    # -- JSON -----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        data = dict(data)
        train = train_config(data.pop("train", None) or {})
        evaluation = _build(EvalConfig, data.pop("eval", None) or {})
        resources = resources_config(data.pop("resources", None) or {})
        return _build(cls, {**data, "train": train, "eval": evaluation, "resources": resources})

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


def sharded(sharding: str, *, finetuning: str, gpus: int) -> bool:
    """Whether the job shards a run with FSDP (``TrainConfig.sharding``); the job and the fit check both ask here.

    Only a full fine-tune on more than one GPU is sharded: "auto" and "fsdp"
    shard it, "none" keeps a replica per GPU. A LoRA run is never sharded: its
    frozen bf16 base is 2 bytes a parameter and its adapter small.
    """
    return finetuning == "full" and gpus > 1 and sharding != "none"


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise SpecError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def train_config(data: dict[str, Any]) -> TrainConfig:
    """Hyper-parameters as JSON gives them → a TrainConfig; SpecError names the first unknown or mistyped one."""
    return _build(TrainConfig, data)


def resources_config(data: dict[str, Any]) -> Resources:
    """``resources`` as JSON gives them → Resources; SpecError as :func:`train_config`."""
    return _build(Resources, data)


def _build(klass: type, data: dict[str, Any], error: type[ContractError] = SpecError):
    # Unknown keys are an error rather than silently ignored: a typo in a
    # hyper-parameter name would otherwise train with the default. A value of
    # the wrong type is one too, here and not as a TypeError on the GPU host.
    names = {f.name for f in dataclasses.fields(klass)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise error(f"unknown {klass.__name__} fields: {', '.join(unknown)}")
    hints = typing.get_type_hints(klass)
    for name, value in data.items():
        if not _has_type(value, hints[name]):
            raise error(f"{name} must be {_type_name(hints[name])}; got {value!r}"[:300])
    if "adam_betas" in data:
        data = {**data, "adam_betas": tuple(data["adam_betas"])}
    try:
        return klass(**data)
    except TypeError as exc:
        raise error(str(exc)) from exc


def _has_type(value: Any, hint: Any) -> bool:
    """``value`` read from JSON fits the annotation ``hint`` (a JSON list stands for a tuple; an int for a float)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(k, str) and _has_type(v, args[1]) for k, v in value.items())
    if origin in (types.UnionType, typing.Union):
        return any(_has_type(value, arg) for arg in args)
    if origin is list:
        return isinstance(value, list) and all(_has_type(item, args[0]) for item in value)
    if origin is tuple:
        return isinstance(value, (list, tuple)) and len(value) == len(args) and all(map(_has_type, value, args))
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is type(None):
        return value is None
    return isinstance(value, hint)


def _type_name(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint)


# -- path confinement ----------------------------------------------------------


def is_store_uri(location: str | None) -> bool:
    return bool(location) and location.startswith(STORE_SCHEME)


def is_local_model(reference: str) -> bool:
    """A model reference is a local path unless it reads as a hub id ("org/name") or an s3:// URI."""
    if is_store_uri(reference):
        return False
    return bool(reference) and (
        reference.startswith(("/", ".", "~")) or not _HUB_ID.match(reference) or Path(reference).exists()
    )


def spec_locations(spec: JobSpec) -> dict[str, str]:
    """Every place a spec reads or writes, by field name: local paths and s3:// URIs (hub ids left out)."""
    locations = {"output_dir": spec.output_dir}
    if spec.output_uri:
        locations["output_uri"] = spec.output_uri
    if spec.snapshot_dir:
        locations["snapshot_dir"] = spec.snapshot_dir
    if is_local_model(spec.base_model) or is_store_uri(spec.base_model):
        locations["base_model"] = spec.base_model
    elif ".." in spec.base_model.split("/"):
        raise SpecError("base_model must not contain '..'")
    for index, suite in enumerate(spec.eval.suites):
        locations[f"eval.suites[{index}]"] = suite
    return locations


def validate_paths(
    spec: JobSpec, allowed_roots: Iterable[str | Path], store_roots: Iterable[str] = ()
) -> None:
    """Raise SpecError unless every location of the spec lies inside an allowed root.

    Local paths must lie under ``allowed_roots``: they are resolved (symlinks
    followed) before the check, so a link inside a root that points outside it
    is rejected; any ``..`` component is rejected outright, even one that would
    resolve back inside. ``s3://`` URIs must lie under ``store_roots``
    (``s3://bucket/prefix``); with none, a URI is refused.
    """
    roots = list(allowed_roots)
    if not roots:
        raise SpecError("no allowed storage roots configured")
    store_roots = list(store_roots)
    for name, raw in spec_locations(spec).items():
        if is_store_uri(raw):
            confine_uri(name, raw, store_roots)
        else:
            confine_path(name, raw, roots)


def validate_store_uris(spec: JobSpec, store_roots: Iterable[str]) -> None:
    """Only the object-store half of :func:`validate_paths`: every s3:// URI under a store root."""
    store_roots = list(store_roots)
    for name, raw in spec_locations(spec).items():
        if is_store_uri(raw):
            confine_uri(name, raw, store_roots)


def confine_uri(name: str, uri: str, store_roots: Iterable[str]) -> None:
    """Raise SpecError unless ``uri`` is one of ``store_roots`` or lies below one, segment by segment."""
    roots = [root.rstrip("/") for root in store_roots if root]
    if not roots:
        raise SpecError(f"{name} is an object-store URI but no object store is configured: {uri}")
    segments = uri[len(STORE_SCHEME) :].rstrip("/").split("/")
    # No "." or "..", no empty segment ("a//b"): S3 keys are plain strings, so
    # nothing would normalise them, but a reader of the URI would.
    if any(segment in ("", ".", "..") for segment in segments) or "\\" in uri:
        raise SpecError(f"{name} is not a plain {STORE_SCHEME}bucket/key URI: {uri}")
    for root in roots:
        root_segments = root[len(STORE_SCHEME) :].split("/")
        if segments[: len(root_segments)] == root_segments:
            return
    raise SpecError(f"{name} is outside the object store's bucket and prefix ({', '.join(roots)}): {uri}")


def confine_path(name: str, raw: str, allowed_roots: Iterable[str | Path]) -> None:
    """Raise SpecError unless the local path ``raw`` lies inside one of ``allowed_roots`` (as :func:`validate_paths`)."""
    roots = [Path(root).expanduser().resolve() for root in allowed_roots]
    if not raw:
        raise SpecError(f"{name} is empty")
    path = Path(raw).expanduser()
    if ".." in path.parts:
        raise SpecError(f"{name} must not contain '..': {raw}")
    resolved = path.resolve()
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        raise SpecError(f"{name} is outside the allowed storage roots: {raw}")


# -- checksums: snapshot_sha256, base_model_revision ------------------------------

# What AutoConfig, AutoModelForCausalLM (safetensors only) and AutoTokenizer read.
MODEL_FILES = (
    "config.json", "generation_config.json", "*.safetensors", "*.safetensors.index.json",
    "tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json", "chat_template.jinja",
)  # fmt: skip
REVISION_PREFIX = "sha256:"  # a local folder's revision; a hub revision is a commit or tag


def sha256_of(path: str | Path) -> str:
    """A file's SHA-256, read in blocks: the one checksum of shards, manifests, checkpoints and weights."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def local_model_revision(folder: str | Path) -> str:
    """``sha256:<hex>`` of a model folder's config, weights and tokenizer files (names included)."""
    folder = Path(folder)
    files = sorted({path for pattern in MODEL_FILES for path in folder.glob(pattern) if path.is_file()})
    if not (folder / "config.json").is_file() or not any(path.suffix == ".safetensors" for path in files):
        raise FileNotFoundError(f"no config.json and *.safetensors in model folder {folder}")
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.name} {sha256_of(path)}\n".encode())
    return REVISION_PREFIX + digest.hexdigest()


# -- provenance ------------------------------------------------------------------


@functools.cache
def code_version() -> str | None:
    """``git describe`` of the checkout this code runs from (the portal's and the job's alike), or None outside one."""
    try:
        result = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


# -- metrics -----------------------------------------------------------------------

# lm-evaluation-harness's names, each reported with a "<name>_stderr" beside it.
# Multiple choice reports acc and acc_norm; preference pairs pref_acc (the share
# of pairs whose chosen answer the model gives the higher summed log-likelihood);
# documents the perplexities.
MULTIPLE_CHOICE_METRICS = ("acc", "acc_norm")
PREFERENCE_METRICS = ("pref_acc",)
PERPLEXITY_METRICS = ("word_perplexity", "byte_perplexity", "bits_per_byte")
METRICS = MULTIPLE_CHOICE_METRICS + PREFERENCE_METRICS + PERPLEXITY_METRICS
HIGHER_IS_BETTER = frozenset(MULTIPLE_CHOICE_METRICS + PREFERENCE_METRICS)  # the perplexities: lower is better
# What a document contributes to the perplexities, per document in ItemScores.floats.
DOCUMENT_SUMS = ("loglikelihood", "words", "bytes")


@dataclass
class ItemScores:
    """One (language, task)'s scores item by item, so that two models can be compared on the same items.

    In an evaluation's ``Done.scores`` entry under ``"items"``, in the order of
    the suite's file. ``bits``: a 0/1 metric of each item (``acc``, ``acc_norm``,
    ``pref_acc``) as a bit array; ``floats``: each document's
    :data:`DOCUMENT_SUMS` as little-endian float64. Both base64: a few hundred
    items take a few dozen bytes.
    """

    n_items: int = 0
    n_docs: int = 0
    bits: dict[str, str] = field(default_factory=dict)
    floats: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any) -> ItemScores:
        if not isinstance(data, dict):
            raise ContractError("item scores must be a JSON object")
        scores = _build(cls, data, ContractError)
        if set(scores.bits) - set(MULTIPLE_CHOICE_METRICS + PREFERENCE_METRICS) or set(scores.floats) - set(DOCUMENT_SUMS):
            raise ContractError(f"unknown item score names: {sorted(set(scores.bits) | set(scores.floats))}")
        return scores

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def metric(self, name: str) -> list[int] | None:
        """The 0/1 scores of ``name``, one per item; None when not reported."""
        if name not in self.bits:
            return None
        packed = base64.b64decode(self.bits[name])
        return [(packed[i // 8] >> (7 - i % 8)) & 1 for i in range(self.n_items)]

    def documents(self, name: str) -> list[float] | None:
        """One of :data:`DOCUMENT_SUMS` per document; None when not reported."""
        if name not in self.floats:
            return None
        raw = base64.b64decode(self.floats[name])
        return list(struct.unpack(f"<{len(raw) // 8}d", raw))


def pack_bits(values: Iterable[bool | int | float]) -> str:
    """0/1 values → base64 of a big-endian bit array (numpy's ``packbits`` order)."""
    values = [1 if value else 0 for value in values]
    packed = bytearray((len(values) + 7) // 8)
    for index, value in enumerate(values):
        packed[index // 8] |= value << (7 - index % 8)
    return base64.b64encode(bytes(packed)).decode("ascii")


def pack_floats(values: Iterable[float]) -> str:
    values = list(values)
    return base64.b64encode(struct.pack(f"<{len(values)}d", *values)).decode("ascii")

# What a DPO run's progress events report beside the loss, as TRL's DPOTrainer
# logs them (rewards/accuracies, rewards/margins, rewards/chosen, rewards/rejected),
# means over the pairs since the last progress event. A reward is beta times the
# log-probability ratio of a response under the policy and the reference.
REWARD_METRICS = ("reward_accuracy", "reward_margin", "chosen_reward", "rejected_reward")


# -- events ------------------------------------------------------------------------


@dataclass(kw_only=True)
class Event:
    """What every event carries. The job's writer sets ``run_id`` and ``time``; the worker, ``attempt``."""

    name: typing.ClassVar[str]
    schema: int = SCHEMA_VERSION
    run_id: str = ""
    time: float = 0.0
    attempt: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.name, **dataclasses.asdict(self)}


@dataclass(kw_only=True)
class Start(Event):
    """The job has loaded its model and data. Which fields are set depends on ``kind``."""

    name = "start"
    kind: str
    base_model_revision: str | None = None
    device: str | None = None
    # training
    method: str | None = None
    finetuning: str | None = None
    dtype: str | None = None
    attn_implementation: str | None = None
    parameters: int | None = None
    trainable_parameters: int | None = None
    examples: int | None = None
    total_steps: int | None = None
    start_step: int | None = None
    resumed_from: str | None = None
    snapshot_sha256: str | None = None
    compiled: bool | None = None
    loss_chunk_tokens: int | None = None
    # evaluation
    model: str | None = None
    max_length: int | None = None
    tasks: int | None = None
    # added by the worker: installed library versions (package metadata)
    versions: dict[str, str] = field(default_factory=dict)


@dataclass(kw_only=True)
class Progress(Event):
    """Training: an optimizer step reached. Evaluation: one (language, task) scored."""

    name = "progress"
    step: int | None = None
    total_steps: int | None = None
    loss: float | None = None  # mean over the steps since the last progress event
    lr: float | None = None
    tokens_per_second: float | None = None
    eta_seconds: float | None = None
    language: str | None = None
    task: str | None = None
    n: int | None = None
    items_per_second: float | None = None
    # DPO training: REWARD_METRICS
    reward_accuracy: float | None = None
    reward_margin: float | None = None
    chosen_reward: float | None = None
    rejected_reward: float | None = None

    def metrics(self, names: Iterable[str] = REWARD_METRICS) -> dict[str, float]:
        """The named figures this event carries (the unset ones left out)."""
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


@dataclass(kw_only=True)
class Checkpoint(Event):
    name = "checkpoint"
    step: int
    path: str


@dataclass(kw_only=True)
class Heartbeat(Event):
    """Still alive: sent every ``train.heartbeat_seconds`` whatever the job is doing."""

    name = "heartbeat"


@dataclass(kw_only=True)
class Done(Event):
    """The job's last word when it succeeded. The worker adds ``exit_code`` and ``log_tail``.

    ``scores`` (evaluation): ``{language: {task: {<METRICS>, <metric>_stderr, n, suite, data_sha256, items}}}``,
    ``items`` as :class:`ItemScores` writes it.
    """

    name = "done"
    # training
    steps: int | None = None
    final_loss: float | None = None
    tokens: int | None = None
    tokens_per_second: float | None = None
    train_seconds: float | None = None
    checkpoint: str | None = None
    already_done: bool = False
    # evaluation
    scores: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    results_path: str | None = None
    results_uri: str | None = None
    # the worker's
    exit_code: int | None = None
    log_tail: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class Error(Event):
    """The job's last word when it failed. ``resumable``: the worker's verdict, worth another attempt."""

    name = "error"
    message: str
    error_type: str | None = None
    resumable: bool = False
    exit_code: int | None = None
    log_tail: list[str] = field(default_factory=list)


EVENTS: dict[str, type[Event]] = {kind.name: kind for kind in (Start, Progress, Checkpoint, Heartbeat, Done, Error)}
FINAL_EVENTS = (Done, Error)


def event_from_dict(data: Any) -> Event:
    """An event as JSON gives it → its typed class; EventError for an unknown kind or schema, or a bad field."""
    if not isinstance(data, dict):
        raise EventError("an event must be a JSON object")
    data = dict(data)
    name = data.pop("event", None)
    kind = EVENTS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise EventError(f"unknown event kind {str(name)[:40]!r}")
    if data.get("schema") != SCHEMA_VERSION:
        raise EventError(f"event schema {str(data.get('schema'))[:20]!r} is not {SCHEMA_VERSION}, the one this code reads")
    return _build(kind, data, EventError)
