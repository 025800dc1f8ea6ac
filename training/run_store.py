"""Snapshots, checkpoints and models in an object store (``s3://bucket/prefix``: S3, MinIO).

GPU hosts come and go; what a job needs and makes must not go with them:

    fetch_snapshot       s3 snapshot -> <cache>/snapshots/<manifest sha256>/, the manifest checked
                         against the spec and every file against the manifest; a cached copy is reused
    upload_folder        a local folder -> s3: the files first, then COMPLETE (names, sizes, SHA-256s)
    upload_checkpoint    checkpoint-<step>/ after each save; older ones beyond ``keep`` are removed
    restore_checkpoint   the newest complete checkpoint in the store -> the local output folder
    fetch_model          a model (a run's final/) -> <cache>/models/<hash of its COMPLETE>/,
                         config, safetensors and tokenizer files only

A folder in the store counts once its ``COMPLETE`` object exists: it is
written after every file, so a host that died while uploading leaves nothing
that resume or evaluation would trust. Everything fetched is checked against
a SHA-256 before it is used, and lands in the cache under a temporary name,
renamed when whole.

One client for both sides, outside training/jobs so the portal needs nothing
else from there: the jobs fetch and keep with it, the portal names locations,
uploads snapshots (training/services/storage.py) and writes stop markers. No
Django. Only this module imports boto3, and only when it first talks to the store. The endpoint and the keys come from the
environment of whoever calls :meth:`Store.from_env` (the GPU worker's), never
from a spec: ``OCCIPORTAL_S3_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Iterator

from training.jobs.contract import STORE_SCHEME, is_store_uri, sha256_of

COMPLETE = "COMPLETE"  # written last under a folder's prefix: {"files": {name: {"bytes", "sha256"}}, ...}
MANIFEST = "manifest.json"
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


class StoreError(RuntimeError):
    """Something in the store is missing, incomplete or not what it claims to be."""


class StoreUnavailable(OSError):
    """The store could not be reached (network, endpoint down): worth another attempt later."""


# -- locations ----------------------------------------------------------------------


def split_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b/`` -> ``("bucket", "a/b")``."""
    if not is_store_uri(uri):
        raise ValueError(f"not an {STORE_SCHEME} URI: {uri}")
    bucket, _, key = uri[len(STORE_SCHEME) :].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {uri}")
    return bucket, key.strip("/")


def join_uri(uri: str, *parts: str) -> str:
    return "/".join([uri.rstrip("/"), *(part.strip("/") for part in parts)])


def store_root_from_env() -> str | None:
    """``s3://<OCCIPORTAL_RUN_STORE_BUCKET>/<OCCIPORTAL_RUN_STORE_PREFIX>``: all a job may touch; None when unset."""
    bucket = os.environ.get("OCCIPORTAL_RUN_STORE_BUCKET", "").strip()
    if not bucket:
        return None
    prefix = os.environ.get("OCCIPORTAL_RUN_STORE_PREFIX", "training").strip("/")
    return f"{STORE_SCHEME}{bucket}/{prefix}" if prefix else f"{STORE_SCHEME}{bucket}"


def cache_dir() -> Path:
    """Where fetched snapshots and models are kept between jobs: ``OCCIPORTAL_JOB_CACHE``."""
    configured = os.environ.get("OCCIPORTAL_JOB_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "occiportal"


# -- the client ------------------------------------------------------------------------


class Store:
    """Objects under ``s3://`` URIs, through one boto3 client."""

    def __init__(self, client) -> None:
        self.client = client

    @classmethod
    def connect(
        cls, *, endpoint_url: str | None = None, region: str | None = None,
        access_key_id: str | None = None, secret_access_key: str | None = None,
        max_attempts: int = 8, timeout: float | None = None,
    ) -> Store:  # fmt: skip
        """A client; keys left out are found by boto3 in the environment, as usual.

        ``max_attempts`` and ``timeout`` (seconds, to connect and to read) are
        for callers that would rather ask again later than wait: a poll.
        """
        import boto3
        from botocore.config import Config

        timeouts = {"connect_timeout": timeout, "read_timeout": timeout} if timeout else {}
        config = Config(
            retries={"max_attempts": max_attempts, "mode": "standard"},
            # MinIO and most S3-compatible stores want bucket names in the path.
            s3={"addressing_style": "path"} if endpoint_url else {},
            **timeouts,
        )
        client = boto3.client(
            "s3", endpoint_url=endpoint_url or None, region_name=region or "us-east-1",
            aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key, config=config,
        )  # fmt: skip
        return cls(client)

    @classmethod
    def from_env(cls, *, max_attempts: int = 8, timeout: float | None = None) -> Store:
        return cls.connect(
            endpoint_url=os.environ.get("OCCIPORTAL_S3_ENDPOINT_URL") or None,
            region=os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION"),
            max_attempts=max_attempts, timeout=timeout,
        )  # fmt: skip

    def upload_file(self, path: Path, uri: str) -> None:
        bucket, key = split_uri(uri)
        with _store_errors(uri):
            self.client.upload_file(str(path), bucket, key)  # multipart, in parallel, above 8 MiB

    def download_file(self, uri: str, path: Path) -> None:
        bucket, key = split_uri(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        with _store_errors(uri):
            self.client.download_file(bucket, key, str(path))

    def read_bytes(self, uri: str) -> bytes | None:
        """The object's bytes; None when it does not exist."""
        bucket, key = split_uri(uri)
        with _store_errors(uri, missing_ok=True):
            return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        return None

    def write_bytes(self, uri: str, data: bytes) -> None:
        bucket, key = split_uri(uri)
        with _store_errors(uri):
            self.client.put_object(Bucket=bucket, Key=key, Body=data)

    def list(self, uri: str) -> dict[str, int]:
        """``{name below uri: size}`` of every object under ``uri/``."""
        bucket, key = split_uri(uri)
        prefix = f"{key}/" if key else ""
        found = {}
        with _store_errors(uri):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    found[item["Key"][len(prefix) :]] = item["Size"]
        return found

    def delete(self, uris: list[str]) -> None:
        """Delete objects of one bucket, a thousand per request."""
        for start in range(0, len(uris), 1000):
            batch = [split_uri(uri) for uri in uris[start : start + 1000]]
            with _store_errors(uris[start]):
                answer = self.client.delete_objects(
                    Bucket=batch[0][0], Delete={"Objects": [{"Key": key} for _, key in batch], "Quiet": True}
                )
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise StoreError(f"the object store kept {first.get('Key')}: {first.get('Message')}")


@contextmanager
def _store_errors(uri: str, *, missing_ok: bool = False) -> Iterator[None]:
    """botocore's errors as StoreError (missing, refused) or StoreUnavailable (unreachable).

    With ``missing_ok`` a missing object ends the block quietly.
    """
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

    try:
        yield
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "NotFound"):
            if missing_ok:
                return
            raise StoreError(f"{uri} does not exist in the object store") from error
        raise StoreError(f"the object store refused {uri}: {code or error}") from error
    except S3UploadFailedError as error:  # a ClientError, wrapped by boto3's managed upload
        raise StoreError(f"the object store refused {uri}: {error}") from error
    except (ConnectionError, HTTPClientError) as error:
        raise StoreUnavailable(f"the object store is unreachable for {uri}: {error}") from error
    except BotoCoreError as error:
        raise StoreError(f"object store error for {uri}: {error}") from error


# -- folders: files first, COMPLETE last ------------------------------------------------


def upload_folder(
    store: Store, folder: Path, uri: str, *, names: list[str] | None = None,
    expected: dict[str, str] | None = None, **extra,
) -> dict:  # fmt: skip
    """Upload ``names`` (default: every file below ``folder``, in order), then ``COMPLETE``; return it.

    ``COMPLETE`` lists each file's size and SHA-256, and ``extra``: a reader
    that finds it knows every file is there and can check each one. It is
    written only once a listing of the store shows every file at its size.
    With ``expected`` (``{name: sha256}``), a file that hashes otherwise is
    refused before it is sent.
    """
    names = names if names is not None else sorted(
        path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()
    )  # fmt: skip
    files = {}
    for name in names:
        path = folder / name
        files[name] = {"bytes": path.stat().st_size, "sha256": sha256_of(path)}
        if expected is not None and files[name]["sha256"] != expected.get(name):
            found = files[name]["sha256"]
            raise StoreError(f"{path} does not match: sha256 {found}, expected {expected.get(name)}; not uploading it")
        store.upload_file(path, join_uri(uri, name))
    stored = store.list(uri)
    short = sorted(name for name, entry in files.items() if stored.get(name) != entry["bytes"])
    if short:
        raise StoreError(f"the object store holds other sizes than were sent for {', '.join(short)} under {uri}")
    marker = {"files": files, **extra}
    store.write_bytes(join_uri(uri, COMPLETE), json.dumps(marker, indent=2, sort_keys=True).encode())
    return marker


def read_complete(store: Store, uri: str) -> tuple[dict, bytes] | None:
    """A folder's ``COMPLETE`` marker and its raw bytes; None while the folder is incomplete."""
    data = store.read_bytes(join_uri(uri, COMPLETE))
    return (json.loads(data), data) if data is not None else None


def download_checked(store: Store, uri: str, folder: Path, files: dict[str, dict], *, what: str) -> None:
    """Each ``{name: {"sha256", ...}}`` from ``uri/name`` to ``folder/name``; refuse one whose SHA-256 differs."""
    for name, entry in files.items():
        path = folder / _safe_name(name)
        store.download_file(join_uri(uri, name), path)
        found = sha256_of(path)
        if found != entry["sha256"]:
            raise StoreError(
                f"{what} file {name} does not match: sha256 {found}, expected {entry['sha256']} "
                f"({join_uri(uri, name)}); refusing it"
            )


def _safe_name(name: str) -> PurePosixPath:
    # Names come from a manifest or a marker read from the store: never let one
    # climb out of the folder it is written into.
    path = PurePosixPath(name)
    if path.is_absolute() or not path.parts or any(part in ("", ".", "..") for part in path.parts):
        raise StoreError(f"refusing the file name {name!r}")
    return path


def _cached(folder: Path, fill: Callable[[Path], None]) -> Path:
    """``folder``, filled by ``fill`` under a temporary name and renamed once whole and checked."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        partial.mkdir()
        fill(partial)
        partial.rename(folder)
    except OSError:
        if not folder.is_dir():  # not another job filling the same folder first
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


# -- snapshots ------------------------------------------------------------------------------


def snapshot_files(manifest: dict) -> dict[str, dict]:
    """The files a snapshot manifest lists, ``{name: {"sha256", "bytes"}}``: the card and every shard."""
    files = {}
    if manifest.get("card_sha256"):
        files["README.md"] = {"sha256": manifest["card_sha256"], "bytes": None}
    for shard in manifest.get("shards", []):
        files[shard["path"]] = {"sha256": shard["sha256"], "bytes": shard.get("bytes")}
    return files


def fetch_snapshot(uri: str, expected_sha256: str, cache: Path | None = None, store: Store | None = None) -> Path:
    """The snapshot at ``uri`` as a local folder, every file checked; reused from the cache when there.

    The manifest must hash to ``expected_sha256`` (the spec pins it) and every
    file it lists to the SHA-256 it gives, or the job stops with an error
    naming the file. The cache is keyed by the manifest's SHA-256, so a
    cached copy is the same snapshot; it is reused when its manifest still
    hashes right and every file has its listed size.
    """
    expected = expected_sha256.lower()
    folder = (cache or cache_dir()) / "snapshots" / expected
    if _snapshot_intact(folder, expected):
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    store = store or Store.from_env()
    data = store.read_bytes(join_uri(uri, MANIFEST))
    if data is None:
        raise StoreError(f"no {MANIFEST} at {uri}: the snapshot was never uploaded, or not completely")
    found = hashlib.sha256(data).hexdigest()
    if found != expected:
        raise StoreError(
            f"snapshot file {MANIFEST} does not match: sha256 {found}, the spec expects {expected} ({uri})"
        )

    def fill(partial: Path) -> None:
        download_checked(store, uri, partial, snapshot_files(json.loads(data)), what="snapshot")
        (partial / MANIFEST).write_bytes(data)

    return _cached(folder, fill)


def _snapshot_intact(folder: Path, expected_sha256: str) -> bool:
    manifest = folder / MANIFEST
    if not manifest.is_file() or sha256_of(manifest) != expected_sha256:
        return False
    files = snapshot_files(json.loads(manifest.read_bytes()))
    return all(
        (folder / name).is_file() and entry["bytes"] in (None, (folder / name).stat().st_size)
        for name, entry in files.items()
    )


# -- checkpoints ------------------------------------------------------------------------------


def checkpoint_objects(store: Store, output_uri: str) -> dict[int, list[str]]:
    """``{step: [names of its objects]}`` of every checkpoint folder under ``output_uri``, complete or not."""
    found: dict[int, list[str]] = {}
    for name in store.list(output_uri):
        folder, _, rest = name.partition("/")
        if rest and (match := CHECKPOINT.match(folder)):
            found.setdefault(int(match.group(1)), []).append(name)
    return found


def complete_checkpoints(store: Store, output_uri: str) -> list[int]:
    """Steps of the checkpoints under ``output_uri`` whose COMPLETE marker exists, ascending."""
    found = checkpoint_objects(store, output_uri)
    return sorted(step for step, names in found.items() if f"checkpoint-{step}/{COMPLETE}" in names)


def upload_checkpoint(store: Store, folder: Path, output_uri: str, *, keep: int) -> str:
    """Copy ``checkpoint-<step>/`` to ``output_uri``; return its URI.

    Then every checkpoint folder older than the ``keep`` newest complete ones
    is removed, including any a host left half uploaded when it died.
    """
    uri = join_uri(output_uri, folder.name)
    upload_folder(store, folder, uri)
    found = checkpoint_objects(store, output_uri)
    complete = sorted(step for step, names in found.items() if f"checkpoint-{step}/{COMPLETE}" in names)
    oldest_kept = complete[-max(keep, 1) :][0]  # never empty: the folder just uploaded is complete
    for step in sorted(step for step in found if step < oldest_kept):
        names = found[step]
        marker = f"checkpoint-{step}/{COMPLETE}"
        if marker in names:  # first: a folder half deleted must never look complete
            store.delete([join_uri(output_uri, marker)])
        store.delete([join_uri(output_uri, name) for name in names if name != marker])
    return uri


def restore_checkpoint(store: Store, output_uri: str, out: Path, *, newer_than: int = 0) -> Path | None:
    """Download the newest complete checkpoint above step ``newer_than`` into ``out``; None if there is none.

    It lands as ``out/checkpoint-<step>/`` (a temporary name until every
    file is checked against COMPLETE), where the training job looks for one.
    """
    steps = [step for step in complete_checkpoints(store, output_uri) if step > newer_than]
    if not steps:
        return None
    name = f"checkpoint-{steps[-1]}"
    uri = join_uri(output_uri, name)
    found = read_complete(store, uri)
    if found is None:  # removed since the listing: a newer one is being uploaded
        return None
    marker, _ = found
    target = out / name
    shutil.rmtree(target, ignore_errors=True)
    return _cached(target, lambda partial: download_checked(store, uri, partial, marker["files"], what="checkpoint"))


# -- models ----------------------------------------------------------------------------------


def fetch_model(uri: str, patterns: Iterable[str], cache: Path | None = None, store: Store | None = None) -> Path:
    """A complete model folder at ``uri`` (a run's ``final/``) as a local folder: only names matching ``patterns``.

    The caller passes the files ``from_pretrained`` needs (config, safetensors,
    tokenizer), so no pickle and no code is ever downloaded. Each file is
    checked against COMPLETE; the cache is keyed by COMPLETE's SHA-256.
    """
    store = store or Store.from_env()
    found = read_complete(store, uri)
    if found is None:
        raise StoreError(f"no complete model at {uri} (its {COMPLETE} marker is missing)")
    marker, raw = found
    patterns = tuple(patterns)
    wanted = {
        name: entry for name, entry in marker["files"].items()
        if "/" not in name and any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
    }  # fmt: skip
    folder = (cache or cache_dir()) / "models" / hashlib.sha256(raw).hexdigest()
    if folder.is_dir() and all((folder / name).is_file() for name in wanted):
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    return _cached(folder, lambda partial: download_checked(store, uri, partial, wanted, what="model"))
