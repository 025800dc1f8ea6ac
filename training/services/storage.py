"""The object store for runs, from the portal's side: where jobs find snapshots and keep checkpoints.

Off unless ``settings.TRAINING_STORE["BUCKET"]`` is set. Then, under
``s3://BUCKET/PREFIX``:

    snapshots/<name>/<version>-<sha12>/   a ready snapshot, uploaded once by snapshot_upload
    runs/<id>/                            a training job's checkpoint-<step>/ and final/
    evaluations/<id>/                     an evaluation's results

and a job spec may name no other ``s3://`` location (runs.py checks, and the
job checks again against its own environment). The transfers, and boto3,
belong to training/run_store.py; boto3 is imported only when something is
sent, never when a portal process starts.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError

from training import run_store
from training.jobs.contract import STORE_SCHEME, SpecError, confine_uri, is_store_uri
from training.models import Snapshot


def store_root() -> str | None:
    """``s3://BUCKET/PREFIX``: all that job specs may name in the store; None while the store is off."""
    bucket, prefix = settings.TRAINING_STORE["BUCKET"], settings.TRAINING_STORE["PREFIX"].strip("/")
    if not bucket:
        return None
    return f"{STORE_SCHEME}{bucket}/{prefix}" if prefix else f"{STORE_SCHEME}{bucket}"


def store_connect() -> run_store.Store:
    conf = settings.TRAINING_STORE
    return run_store.Store.connect(
        endpoint_url=conf["ENDPOINT_URL"], region=conf["REGION"],
        access_key_id=conf["ACCESS_KEY_ID"], secret_access_key=conf["SECRET_ACCESS_KEY"],
    )  # fmt: skip


def snapshot_location(snapshot: Snapshot) -> str:
    """Where a job reads the snapshot: its place in the store while the store is on, else its folder."""
    root = store_root()
    if root is None or is_store_uri(snapshot.uri):
        return snapshot.uri
    # The manifest's hash in the name: a rebuilt database reusing name@version never meets an old upload.
    return run_store.join_uri(root, "snapshots", snapshot.name, f"{snapshot.version}-{snapshot.manifest_sha256[:12]}")


def job_output_uri(output_dir: str) -> str | None:
    """Where a job keeps what must outlive its host: ``runs/<id>/`` as under DATA_DIR; None while the store is off."""
    root = store_root()
    if root is None:
        return None
    folder = Path(output_dir)
    try:
        relative = folder.resolve().relative_to(Path(settings.DATA_DIR).resolve())
    except ValueError:  # a folder under another storage root
        relative = Path(folder.parent.name, folder.name)
    return run_store.join_uri(root, relative.as_posix())


def snapshot_upload(*, snapshot: Snapshot) -> str:
    """Put a ready snapshot's files into the store once; return where jobs read it.

    Idempotent: a snapshot whose COMPLETE marker there names its manifest's
    SHA-256 costs one read. Otherwise the card, every shard and then the
    manifest are sent, each file hashed on the way and refused unless it
    matches the manifest (the manifest itself must match the row), and
    COMPLETE is written once the store holds every file at its size. With the
    store off, or a snapshot that already lives in it, nothing is sent.
    """
    uri = snapshot_location(snapshot)
    if uri == snapshot.uri:
        return uri
    try:
        store = store_connect()
        found = run_store.read_complete(store, uri)
        if found is None or found[0].get("manifest_sha256") != snapshot.manifest_sha256:
            expected = _expected_files(Path(snapshot.uri), snapshot.manifest_sha256)
            run_store.upload_folder(
                store, Path(snapshot.uri), uri, names=list(expected), expected=expected,
                manifest_sha256=snapshot.manifest_sha256, snapshot=snapshot.label,
            )  # fmt: skip
    except (run_store.StoreError, run_store.StoreUnavailable) as error:
        raise ValidationError(f"snapshot {snapshot.label} could not be put in the object store: {error}") from error
    return uri


def _expected_files(folder: Path, manifest_sha256: str) -> dict[str, str]:
    """``{name: sha256}`` of what the manifest lists, the manifest last; the manifest checked against the row."""
    data = (folder / run_store.MANIFEST).read_bytes()
    found = hashlib.sha256(data).hexdigest()
    if found != manifest_sha256:
        raise run_store.StoreError(
            f"{folder / run_store.MANIFEST} has sha256 {found}, the snapshot records {manifest_sha256}"
        )
    listed = run_store.snapshot_files(json.loads(data))
    return {**{name: entry["sha256"] for name, entry in listed.items()}, run_store.MANIFEST: manifest_sha256}


def evaluation_results_stored(evaluation) -> bytes | None:
    """The results JSON an evaluation job left in the store; None when the store is off or holds none."""
    uri, root = evaluation.manifest.get("results_uri"), store_root()
    if not uri or not root:
        return None
    try:
        confine_uri("results_uri", uri, [root])  # it came from a GPU host
    except SpecError:
        return None
    return store_connect().read_bytes(uri)
