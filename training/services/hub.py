"""Publish a ready snapshot to a private Hugging Face Hub dataset repository.

The one module that imports ``huggingface_hub`` for snapshots. What goes up
is what the manifest lists (card, manifest, shards), checked against the
manifest's sha256s before the commit, so the Hub copy verifies exactly like
the portal's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from training.models import Snapshot
from training.snapshot_files import snapshot_files


class HubPushError(Exception):
    """The push did not happen or did not finish; the message says why (the Hub's own words where it answered)."""


@dataclass(frozen=True)
class HubPush:
    repo_url: str
    commit_url: str
    commit_oid: str
    tag: str


def snapshot_push_to_hub(*, snapshot: Snapshot, repo_id: str, token: str | None = None,
                         endpoint: str | None = None) -> HubPush:
    """Upload ``snapshot`` to the private dataset repo ``repo_id`` (created if missing) as one commit.

    The commit adds the card, the manifest and every shard, and deletes the
    shards of an earlier version that this one lacks; it is tagged
    ``v<version>`` so a run can pin it. ``token`` None means huggingface_hub's
    own (``HF_TOKEN``, a saved login). Raises HubPushError for a snapshot
    that is not ready, a repo that exists but is public, a file whose sha256
    differs from the manifest's, and whatever the Hub or the network refused.
    """
    files = snapshot_files(snapshot)
    if snapshot.status != Snapshot.Status.READY or not files:
        raise HubPushError(f"{snapshot.label} is not ready or its manifest is unreadable")
    try:
        return _push(snapshot, files, repo_id=repo_id, token=token, endpoint=endpoint)
    except HubPushError:
        raise
    except Exception as error:  # the adapter's edge: HTTP, network and validation errors alike
        raise HubPushError(f"{type(error).__name__}: {error}") from error


def _push(snapshot, files, *, repo_id, token, endpoint) -> HubPush:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    api = HfApi(endpoint=endpoint, token=token)
    repo_url = api.create_repo(repo_id, repo_type="dataset", private=True, exist_ok=True)
    # create_repo ignores ``private`` when the repo already exists.
    if not api.repo_info(repo_id, repo_type="dataset").private:
        raise HubPushError(f"{repo_id} is public: snapshots go to private repositories only")
    root = Path(snapshot.uri)
    additions = [CommitOperationAdd(path_in_repo=f.path, path_or_fileobj=str(root / f.path)) for f in files]
    ours = {f.path for f in files}
    deletions = [CommitOperationDelete(path_in_repo=path) for path in api.list_repo_files(repo_id, repo_type="dataset")
                 if path.endswith(".parquet") and path not in ours]
    # Upload first, then compare the sha256s the upload computed with the manifest, then commit.
    api.preupload_lfs_files(repo_id, additions=additions, repo_type="dataset")
    _check(additions, files)
    # One create_commit, not upload_folder: with hf_xet installed upload_folder
    # commits large folders in batches, and a version must land whole.
    commit = api.create_commit(
        repo_id, repo_type="dataset", operations=[*deletions, *additions],
        commit_message=f"{snapshot.label} (manifest sha256 {snapshot.manifest_sha256})",
    )
    tag = f"v{snapshot.version}"
    api.create_tag(repo_id, repo_type="dataset", tag=tag, revision=commit.oid, exist_ok=True)
    return HubPush(repo_url=str(repo_url), commit_url=commit.commit_url, commit_oid=commit.oid, tag=tag)


def _check(additions, files) -> None:
    expected = {f.path: f.sha256 for f in files}
    for op in additions:
        if op.upload_info.sha256.hex() != expected[op.path_in_repo]:
            raise HubPushError(f"{op.path_in_repo} does not match the manifest's sha256")
