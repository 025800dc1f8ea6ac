"""Resumable uploads: a large file arrives in pieces, then becomes a submission.

The web API (annotation/api/upload_views.py) speaks the tus 1.0.0 protocol
(core, creation, termination) on top of these functions, so a dropped
connection costs the piece in flight, not the file, and no web worker is
held for the length of a 2 GB upload. Bytes go to a part file; the row's
``offset`` counts only bytes already on disk. One writer at a time per
upload, by an exclusive lock on its part file.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from annotation.models import Submission, Upload
from occiportal.controls import CONTROL

from .submissions import submission_create

log = logging.getLogger(__name__)

READ_BYTES = 1 << 20
MAX_OPEN_PER_USER = 10
IDLE_BEFORE_DROP = timedelta(hours=1)


class UploadError(Exception):
    """Refused: ``status`` is the HTTP status the API answers with."""

    status = 400


class UploadConflict(UploadError):
    status = 409


class UploadTooLarge(UploadError):
    status = 413


def upload_create(*, owner, filename: str, length: int) -> Upload:
    limit = settings.INGEST["MAX_UPLOAD_BYTES"]
    if length <= 0:
        raise UploadError(_("The file is empty."))
    if CONTROL.search(filename):
        raise UploadError(_("The file name holds a control character (such as NUL)."))
    if length > limit:
        raise UploadTooLarge(
            _("The file is %(size)s bytes; the limit is %(limit)s bytes.") % {"size": length, "limit": limit}
        )
    with transaction.atomic():
        # The owner's row is the lock: requests racing to create count and
        # insert one after another, so none sees a count the others are about to pass.
        get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
        _make_room(owner)
        upload = Upload.objects.create(owner=owner, filename=filename.strip()[:255] or "upload", length=length)
    upload.part_path.parent.mkdir(parents=True, exist_ok=True)
    upload.part_path.touch()
    return upload


def _make_room(owner) -> None:
    """Keep a user's unfinished uploads under MAX_OPEN_PER_USER, dropping the longest idle ones first.

    Abandoned uploads (a closed tab, a retried creation) would otherwise
    block the user until they expire; one idle for under IDLE_BEFORE_DROP
    may still be in progress, so it is never dropped to make room.
    """
    uploads = list(Upload.objects.filter(owner=owner).order_by("updated_at"))
    excess = len(uploads) - MAX_OPEN_PER_USER + 1
    idle = [u for u in uploads if u.updated_at < timezone.now() - IDLE_BEFORE_DROP][: max(excess, 0)]
    if len(idle) < excess:
        raise UploadError(
            _("You have %(count)s uploads in progress; finish or cancel one first.") % {"count": MAX_OPEN_PER_USER}
        )
    for upload in idle:
        upload_cancel(upload=upload)


def upload_append(*, upload: Upload, offset: int, stream, content_length: int | None) -> int:
    """Write the bytes of ``stream`` at ``offset``; return the upload's new offset.

    Raises UploadConflict when ``offset`` is not the upload's, or another
    request is writing it; UploadTooLarge when the piece would pass the
    upload's length or the per-request limit. When the connection drops
    mid-piece, the bytes that arrived count and the error is raised again.
    """
    if content_length is not None and content_length > upload.length - upload.offset:
        raise _too_large(upload, upload.length - upload.offset)  # early, before the lock; checked again under it
    with open(upload.part_path, "r+b") as part:
        try:
            fcntl.flock(part, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UploadConflict(_("Another request is writing this upload; ask for its offset and go on from there."))
        # Under the lock: a request that ended a moment ago may have moved it.
        current = Upload.objects.filter(pk=upload.pk).values_list("offset", flat=True).first()
        if current is None:
            raise UploadError(_("This upload was cancelled."))
        if offset != current:
            raise UploadConflict(
                _("The upload holds %(offset)s bytes; send from there, not from %(asked)s.")
                % {"offset": current, "asked": offset}
            )
        room = upload.length - current
        cap = min(room, settings.UPLOAD_PIECE_MAX_BYTES)
        if content_length is not None and content_length > cap:
            raise _too_large(upload, room)
        part.seek(offset)
        part.truncate()  # bytes past the offset belong to a write that never counted
        written, dropped = 0, None
        try:
            while piece := stream.read(min(READ_BYTES, cap - written + 1)):
                if written + len(piece) > cap:
                    part.truncate(offset)
                    raise _too_large(upload, room)
                part.write(piece)
                written += len(piece)
        except OSError as error:  # the client went away: keep what arrived
            dropped = error
        part.flush()
        os.fsync(part.fileno())  # the row never counts bytes the disk may not hold
        Upload.objects.filter(pk=upload.pk, offset=offset).update(offset=offset + written, updated_at=timezone.now())
    upload.offset = offset + written
    if dropped is not None:
        raise dropped
    return upload.offset


def _too_large(upload: Upload, room: int) -> UploadTooLarge:
    if room <= settings.UPLOAD_PIECE_MAX_BYTES:
        return UploadTooLarge(
            _("The piece goes past the end of the file: %(room)s bytes remain of %(length)s.")
            % {"room": room, "length": upload.length}
        )
    return UploadTooLarge(
        _("Send at most %(limit)s bytes per request.") % {"limit": settings.UPLOAD_PIECE_MAX_BYTES}
    )


def upload_cancel(*, upload: Upload) -> None:
    Upload.objects.filter(pk=upload.pk).delete()
    upload.part_path.unlink(missing_ok=True)


def upload_of(user, upload_id) -> Upload | None:
    """The user's own upload with this id; another user's reads like a missing one."""
    try:
        return Upload.objects.filter(pk=upload_id, owner=user).first()
    except ValidationError:  # not a UUID
        return None


class _PartFile(File):
    """The part file as Django's storages see an uploaded temporary file: moved into place, not copied."""

    def temporary_file_path(self) -> str:
        return self.file.name


def submission_create_from_upload(*, upload: Upload, **fields) -> Submission:
    """``submission_create`` with a finished upload as its file; the upload is used up.

    ``fields`` are submission_create's, less ``file`` and ``original_name``.
    Raises ValidationError (on ``upload``) for an unfinished or vanished upload.
    """
    with transaction.atomic():
        locked = Upload.objects.select_for_update().filter(pk=upload.pk).first()
        if locked is None or not locked.part_path.exists():
            raise ValidationError({"upload": _("This upload no longer exists; send the file again.")})
        if not locked.is_complete:
            raise ValidationError(
                {"upload": _("The upload is not finished: %(offset)s of %(length)s bytes received.")
                 % {"offset": locked.offset, "length": locked.length}}
            )  # fmt: skip
        # The storage moves a second name for the bytes, so a rollback after
        # the move still finds the part file and the upload can be submitted again.
        staged = _stage(locked.part_path)
        try:
            with _PartFile(open(staged, "rb")) as file:
                submission = submission_create(file=file, original_name=locked.filename, **fields)
        finally:
            staged.unlink(missing_ok=True)  # a storage that copies (S3) leaves it behind
        part = locked.part_path  # before delete(), which clears the id it is named by
        locked.delete()
        transaction.on_commit(lambda: part.unlink(missing_ok=True))
    return submission


def _stage(part: Path) -> Path:
    staged = part.with_name(f"{part.stem}-{uuid.uuid4().hex}.staged")
    try:
        os.link(part, staged)  # the same bytes, no copy
    except OSError:  # a file system without hard links
        shutil.copyfile(part, staged)
    return staged


def uploads_expire(*, now=None) -> int:
    """Delete uploads untouched for ``UPLOAD_EXPIRE_HOURS``, and part files no row counts; return how many uploads."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.UPLOAD_EXPIRE_HOURS)
    stale = list(Upload.objects.filter(updated_at__lt=cutoff))
    for upload in stale:
        upload_cancel(upload=upload)
    folder = settings.UPLOAD_INCOMING_DIR
    if folder.is_dir():
        known = {f"{pk}.part" for pk in Upload.objects.values_list("pk", flat=True)}
        for path in [*folder.glob("*.part"), *folder.glob("*.staged")]:
            if path.name not in known and path.stat().st_mtime < cutoff.timestamp():
                path.unlink(missing_ok=True)
    return len(stale)
