"""Which exact model a job loads: a hub commit, or the hash of a local folder's files.

A hub id is pinned by its revision (a commit or a tag); the job resolves it to
the commit it names and loads every file from that commit. A local folder has
no commit, so its revision is ``sha256:<hex>`` over the names and SHA-256s of
the files ``from_pretrained`` reads: config, safetensors weights and tokenizer.
A job given a pinned local revision refuses a folder whose files changed.

How a local folder is hashed is the contract's (training/jobs/contract.py,
``local_model_revision``): the portal hashes a folder when it is registered
(``create_base_model``) and the job checks it. Only the hub lookup imports
``huggingface_hub``, inside the job.
"""

from __future__ import annotations

from pathlib import Path

from training.jobs.contract import is_local_model, local_model_revision

class RevisionMismatch(ValueError):
    """The model found is not the one the spec pinned."""


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
