"""Publish a ready snapshot to a private Hugging Face Hub dataset repository, on the worker.

Staff ask for a push (``snapshot_hub_push_request``); the ``default`` queue's
worker carries it out (the task ``PUSH_TASK``, in training/tasks.py) and
records on the snapshot the commit, or why it failed. A push of several GB
outlasts any web request, so it never runs in one.

The one module that imports ``huggingface_hub`` for snapshots. What goes up
is what the manifest lists (card, manifest, shards), checked against the
manifest's sha256s before the commit, so the Hub copy verifies exactly like
the portal's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from occiportal.broker import send_marked_on_commit
from occiportal.locks import advisory_lock
from training.models import Snapshot
from training.services.snapshot_files import snapshot_files

# The task's soft time limit: hours of upload for a snapshot of tens of GB. The
# hard limit, a little later, kills the worker process.
PUSH_TASK = "training.tasks.snapshot_hub_push"
PUSH_SECONDS = 6 * 3600
PUSH_KILLED_AFTER = timedelta(seconds=PUSH_SECONDS + 300)
REPO_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}\Z"
_LOCK_CLASS = 0x48554250  # "HUBP": advisory lock namespace of Hub pushes
_TOKENS = re.compile(r"hf_[A-Za-z0-9]{8,}")

Hub = Snapshot.HubStatus


class HubPushError(Exception):
    """The push did not happen or did not finish; the message says why (the Hub's own words where it answered)."""


@dataclass(frozen=True)
class HubPush:
    repo_url: str
    commit_url: str
    commit_oid: str
    tag: str


def snapshot_hub_repo_default(snapshot: Snapshot) -> str:
    """The repository a push form offers: the last one asked for, else ``SNAPSHOT_HUB_NAMESPACE/<name>``."""
    namespace = settings.SNAPSHOT_HUB_NAMESPACE
    return snapshot.hub_repo or (f"{namespace}/{snapshot.name}" if namespace else "")


def snapshot_hub_push_refusal(snapshot: Snapshot) -> str | None:
    """Why a push of ``snapshot`` cannot be asked for now, or None."""
    if snapshot.status != Snapshot.Status.READY:
        return _("Only a ready snapshot can be pushed.")
    # Past the hard time limit a push still queued or pushing is lost (a broker
    # flushed, a worker killed): asking again is safe, the task being idempotent.
    since = snapshot.hub_started_at if snapshot.hub_status == Hub.PUSHING else snapshot.hub_requested_at
    if (since or timezone.now()) <= timezone.now() - PUSH_KILLED_AFTER:
        return None
    if snapshot.hub_status == Hub.QUEUED:
        return _("A push of %(label)s is already queued.") % {"label": snapshot.label}
    if snapshot.hub_status == Hub.PUSHING:
        return _("%(label)s is being pushed now.") % {"label": snapshot.label}
    return None


def snapshot_hub_push_request(*, snapshot: Snapshot, repo_id: str, requested_by) -> Snapshot:
    """Queue a push of ready ``snapshot`` to the private Hub dataset repo ``repo_id``; returns the updated row.

    Staff only (PermissionDenied otherwise). Raises ValidationError for a
    malformed repository id, a snapshot that is not ready or whose manifest
    no longer verifies, and while a push of it is queued or running. Asking
    again after a push, to the same repository or another, pushes again.
    """
    if requested_by is None or not requested_by.is_staff:
        raise PermissionDenied("only staff push snapshots to the Hub")
    if not re.match(REPO_ID, repo_id) or ".." in repo_id or "--" in repo_id:
        raise ValidationError(_("%(repo)s is not a Hub repository id: organisation/name, letters, digits, '-', '_' and '.'.")
                              % {"repo": repo_id})
    with transaction.atomic():
        snapshot = Snapshot.objects.select_for_update().get(pk=snapshot.pk)
        refusal = snapshot_hub_push_refusal(snapshot)
        if refusal is None and not snapshot_files(snapshot):
            refusal = _("The manifest of %(label)s is unreadable or altered since the build.") % {"label": snapshot.label}
        if refusal:
            raise ValidationError(refusal)
        _update(snapshot, hub_status=Hub.QUEUED, hub_repo=repo_id, hub_requested_by=requested_by,
                hub_requested_at=timezone.now(), hub_started_at=None, hub_pushed_at=None, hub_commit="", hub_url="",
                hub_error="")
        snapshot_hub_push_send(snapshot=snapshot, now=snapshot.hub_requested_at)
    return snapshot


def snapshot_hub_push_send(*, snapshot: Snapshot, now) -> None:
    """Mark the push unsent since ``now`` and send it on commit; a broker away leaves the mark for the sweeper."""
    _update(snapshot, hub_unsent_since=now)
    send_marked_on_commit(PUSH_TASK, row=snapshot, field="hub_unsent_since", args=[snapshot.pk])


def snapshot_hub_push(*, snapshot_id: int) -> Snapshot:
    """Carry out the queued push of ``snapshot_id``: record the commit, or ``failed`` and why; returns the row.

    Idempotent, so the task acks late: a pushed, failed or never-requested
    snapshot is left alone; a delivery while another uploads returns; a push
    cut off half-way (worker lost) is redone, and the Hub skips blobs it
    already holds and an empty commit. Nothing on the Hub is changed twice.
    """
    with advisory_lock(_LOCK_CLASS, snapshot_id) as mine:
        if not mine:  # another delivery of this push is uploading right now
            return Snapshot.objects.get(pk=snapshot_id)
        snapshot = _start(snapshot_id)
        if snapshot.hub_status != Hub.PUSHING:
            return snapshot
        try:
            pushed = snapshot_push_to_hub(snapshot=snapshot, repo_id=snapshot.hub_repo, token=settings.SNAPSHOT_HUB_TOKEN,
                                          endpoint=settings.SNAPSHOT_HUB_ENDPOINT)
        except HubPushError as error:
            return _finish(snapshot, hub_status=Hub.FAILED, hub_error=str(error))
        except SoftTimeLimitExceeded:
            return _finish(snapshot, hub_status=Hub.FAILED, hub_error=(
                f"The push ran out of time ({PUSH_SECONDS // 3600} hours) before its commit; "
                "pushing again does not send the blobs the Hub already holds."))
        return _finish(snapshot, hub_status=Hub.PUSHED, hub_commit=pushed.commit_oid, hub_url=pushed.repo_url,
                       hub_pushed_at=timezone.now())


def _start(snapshot_id: int) -> Snapshot:
    """queued (or pushing, when the delivery that began it was lost) → pushing; anything else stays."""
    with transaction.atomic():
        snapshot = Snapshot.objects.select_for_update().get(pk=snapshot_id)
        if snapshot.hub_status in (Hub.QUEUED, Hub.PUSHING):
            _update(snapshot, hub_status=Hub.PUSHING, hub_started_at=timezone.now())
    return snapshot


def _finish(snapshot: Snapshot, **fields) -> Snapshot:
    # Only over this attempt: a push asked for again meanwhile (possible once
    # this one looked dead) keeps its own state.
    Snapshot.objects.filter(pk=snapshot.pk, hub_status=Hub.PUSHING, hub_started_at=snapshot.hub_started_at).update(**fields)
    return Snapshot.objects.get(pk=snapshot.pk)


def _update(snapshot: Snapshot, **fields) -> None:
    for name, value in fields.items():
        setattr(snapshot, name, value)
    snapshot.save(update_fields=list(fields))


# ---- the adapter -------------------------------------------------------------


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
    except (HubPushError, SoftTimeLimitExceeded):
        raise
    except Exception as error:  # the adapter's edge: HTTP, network and validation errors alike
        raise HubPushError(_describe(error, token)) from error


def _push(snapshot, files, *, repo_id, token, endpoint) -> HubPush:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    api = HfApi(endpoint=endpoint, token=token)
    repo_url = api.create_repo(repo_id, repo_type="dataset", private=True, exist_ok=True)
    # create_repo ignores ``private`` when the repo already exists.
    info = api.repo_info(repo_id, repo_type="dataset")
    if not info.private:
        raise HubPushError(f"{repo_id} is public: snapshots go to private repositories only")
    tag = snapshot.hub_tag
    tagged = _tagged_commit(api, repo_id, tag)
    # Our own earlier delivery tagged the head; a tag elsewhere is another snapshot's version.
    if tagged not in (None, info.sha):
        raise HubPushError(f"{repo_id} already has a tag {tag} on commit {tagged}: another snapshot's version "
                           f"{snapshot.version} is there; push to another repository")
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
    if tagged is None:
        api.create_tag(repo_id, repo_type="dataset", tag=tag, revision=commit.oid)
    elif tagged != commit.oid:  # the head moved under us, or this version's files differ from the tagged ones
        raise HubPushError(f"{repo_id}'s tag {tag} names commit {tagged}, not this push's {commit.oid}")
    return HubPush(repo_url=str(repo_url), commit_url=commit.commit_url, commit_oid=commit.oid, tag=tag)


def _tagged_commit(api, repo_id: str, tag: str) -> str | None:
    from huggingface_hub.errors import HfHubHTTPError

    try:
        return api.repo_info(repo_id, repo_type="dataset", revision=tag).sha
    except HfHubHTTPError as error:
        if error.response is not None and error.response.status_code == 404:
            return None
        raise


def _check(additions, files) -> None:
    expected = {f.path: f.sha256 for f in files}
    for op in additions:
        if op.upload_info.sha256.hex() != expected[op.path_in_repo]:
            raise HubPushError(f"{op.path_in_repo} does not match the manifest's sha256")


def _describe(error: BaseException, token: str | None) -> str:
    """The cause chain, outermost first, a line each: which file (huggingface_hub names it), then what the Hub answered.

    Query strings are cut, since a signed upload URL is a credential, and no
    token appears, neither ``token`` nor anything shaped like one.
    """
    lines = []
    while error is not None:
        response = getattr(error, "response", None)
        if response is not None and hasattr(response, "status_code"):
            lines.append(_answer(error, response))
            break  # what lies under it, httpx's own error, says the same again
        lines.append(f"{type(error).__name__}: {error}")
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    text = "\n".join(lines)
    if token:
        text = text.replace(token, "[token]")
    return _TOKENS.sub("[token]", text)


def _answer(error, response) -> str:
    request = response.request
    url = str(request.url).split("?")[0]
    answer = f"The Hub answered {response.status_code} {response.reason_phrase} to {request.method} {url}"
    if server_message := (getattr(error, "server_message", None) or "").strip():
        answer += f": {server_message}"
    if request_id := getattr(error, "request_id", None):
        answer += f" (request id {request_id})"
    return answer
