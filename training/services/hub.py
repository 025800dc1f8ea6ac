"""Publish a ready snapshot to a private Hugging Face Hub dataset repository.

The one module that imports ``huggingface_hub`` for snapshots. The folder
goes up as built (card, manifest, shards), so the Hub copy verifies against
the same manifest sha256.
"""

from __future__ import annotations

from training.models import Snapshot


def snapshot_push_to_hub(*, snapshot: Snapshot, repo_id: str, token: str, private: bool = True) -> str:
    """Upload ``snapshot`` to ``repo_id`` (created if missing); returns the commit URL.

    Each version is one commit, tagged ``v<version>`` so a run can pin it;
    shards of an earlier version that this one lacks are deleted in it.
    """
    from huggingface_hub import HfApi

    if snapshot.status != Snapshot.Status.READY:
        raise ValueError(f"{snapshot.label} is not ready")
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id, repo_type="dataset", folder_path=snapshot.uri,
        commit_message=f"{snapshot.label} (manifest sha256 {snapshot.manifest_sha256})",
        delete_patterns=["*.parquet"],  # fnmatch: across folders too; this commit's own files stay
    )
    api.create_tag(repo_id, repo_type="dataset", tag=f"v{snapshot.version}", revision=commit.oid, exist_ok=True)
    return commit.commit_url
