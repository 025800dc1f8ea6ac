"""Which exact model a job loads: a hub commit, or the hash of a local folder's files.

A hub id is pinned by its revision (a commit or a tag); the job resolves it to
the commit it names and loads every file from that commit. A local folder has
no commit, so its revision is ``sha256:<hex>`` over the names and SHA-256s of
the files ``from_pretrained`` reads: config, safetensors weights and tokenizer.
A job given a pinned local revision refuses a folder whose files changed.

The portal hashes a folder when it is registered (``create_base_model``), so
this module imports the standard library alone; only the hub lookup imports
``huggingface_hub``, inside the job.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from training.jobs.spec import is_local_model
from training.jobs.storage import sha256_of

# What AutoConfig, AutoModelForCausalLM (safetensors only) and AutoTokenizer read.
MODEL_FILES = (
    "config.json", "generation_config.json", "*.safetensors", "*.safetensors.index.json",
    "tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json", "chat_template.jinja",
)  # fmt: skip
PREFIX = "sha256:"


class RevisionMismatch(ValueError):
    """The model found is not the one the spec pinned."""


def local_model_revision(folder: str | Path) -> str:
    """``sha256:<hex>`` of a model folder's config, weights and tokenizer files (names included)."""
    folder = Path(folder)
    files = sorted({path for pattern in MODEL_FILES for path in folder.glob(pattern) if path.is_file()})
    if not (folder / "config.json").is_file() or not any(path.suffix == ".safetensors" for path in files):
        raise FileNotFoundError(f"no config.json and *.safetensors in model folder {folder}")
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.name} {sha256_of(path)}\n".encode())
    return PREFIX + digest.hexdigest()


def resolve_revision(reference: str, pinned: str = "") -> str:
    """The revision a job will load: the local folder's hash, or the hub commit ``pinned`` names.

    Raises :class:`RevisionMismatch` when a local folder's files no longer
    hash to ``pinned``: training on other weights than the manifest says
    would make the run impossible to reproduce.
    """
    if is_local_model(reference):
        found = local_model_revision(reference)
        if pinned and pinned != found:
            raise RevisionMismatch(
                f"base model folder {reference} changed since it was pinned: expected {pinned}, found {found}"
            )
        return found
    from huggingface_hub import hf_hub_download

    # The file lands in (or is found in) the cache under snapshots/<commit>/:
    # that folder's name is the commit the tag or branch points to now.
    return Path(hf_hub_download(reference, "config.json", revision=pinned or None)).parent.name


def hub_revision(reference: str, revision: str) -> dict:
    """``from_pretrained`` keyword arguments: ``revision=`` for a hub id, nothing for a folder."""
    return {} if is_local_model(reference) or not revision else {"revision": revision}
