"""A ready snapshot's files, as its manifest lists them, and the responses that serve them.

Only the files the manifest names are served (the card, the manifest itself
and the shards): a name from a URL is looked up, never joined onto a path.
Responses honour one HTTP byte range, so ``curl -C -`` resumes and remote
Parquet readers (pyarrow, ``datasets`` streaming) read a shard's footer and
then only the row groups they need. In production the web server can send
the bytes itself: ``SNAPSHOT_SENDFILE_HEADER`` (see docs/snapshots.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse
from django.utils.http import content_disposition_header

from training.models import Snapshot

log = logging.getLogger(__name__)

CARD, MANIFEST, SHARD = "card", "manifest", "shard"
_TYPES = {CARD: "text/markdown; charset=utf-8", MANIFEST: "application/json", SHARD: "application/vnd.apache.parquet"}
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
BLOCK_SIZE = 512 * 1024


@dataclass(frozen=True)
class SnapshotFile:
    path: str  # relative to the snapshot's folder, as the manifest writes it
    kind: str  # CARD, MANIFEST or SHARD
    size: int
    sha256: str
    language: str = ""
    split: str = ""
    rows: int | None = None


def snapshot_files(snapshot: Snapshot) -> list[SnapshotFile]:
    """Card, manifest, then the shards by path; empty unless the snapshot is ready and its manifest intact."""
    if snapshot.status != Snapshot.Status.READY or not snapshot.uri:
        return []
    try:
        return list(_listing(snapshot.uri, snapshot.manifest_sha256))
    except (OSError, ValueError, KeyError) as error:
        log.error("snapshot %s: unreadable or altered manifest (%s)", snapshot.label, error)
        return []


def snapshot_file_lookup(snapshot: Snapshot, path: str) -> SnapshotFile | None:
    return next((f for f in snapshot_files(snapshot) if f.path == path), None)


# Keyed by folder and manifest sha256: a ready snapshot never changes, so
# each process reads and checks a manifest once.
@lru_cache(maxsize=64)
def _listing(uri: str, manifest_sha256: str) -> tuple[SnapshotFile, ...]:
    root = Path(uri)
    data = (root / "manifest.json").read_bytes()
    if hashlib.sha256(data).hexdigest() != manifest_sha256:
        raise ValueError("manifest.json does not match the recorded sha256")
    manifest = json.loads(data)
    files = [
        SnapshotFile("README.md", CARD, (root / "README.md").stat().st_size, manifest["card_sha256"]),
        SnapshotFile("manifest.json", MANIFEST, len(data), manifest_sha256),
    ]
    for entry in manifest["shards"]:  # "<language>/<split>-NNNNN.parquet"
        language, name = entry["path"].split("/", 1)
        files.append(SnapshotFile(entry["path"], SHARD, entry["bytes"], entry["sha256"], language=language,
                                  split=name.rsplit("-", 1)[0], rows=entry["rows"]))
    return tuple(files)


def snapshot_file_response(request, snapshot: Snapshot, file: SnapshotFile):
    """GET or HEAD one file: 200, 206 for a satisfiable ``Range``, 416 otherwise; the sha256 is the ETag."""
    root = Path(snapshot.uri).resolve()
    location = (root / file.path).resolve()
    if root not in location.parents or not location.is_file():  # a manifest that names what is not there
        raise Http404("No such file.")
    size = location.stat().st_size
    etag = f'"{file.sha256}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        # Answers depend on who asks; no shared cache may keep them, no proxy recompress them.
        "Cache-Control": "private, no-transform",
        "Content-Disposition": content_disposition_header(
            file.kind == SHARD, f"{snapshot.name}-v{snapshot.version}-{file.path.replace('/', '-')}"
        ),
    }
    if settings.SNAPSHOT_SENDFILE_HEADER:
        return _sendfile(location, headers, _TYPES[file.kind])
    if request.headers.get("If-Range", etag) != etag:
        byte_range = None  # the client holds other bytes: send the whole file
    else:
        byte_range = _byte_range(request.headers.get("Range", ""), size)
    if byte_range == "unsatisfiable":
        return HttpResponse(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    start, end = byte_range or (0, size - 1)
    status, length = (206, end - start + 1) if byte_range else (200, size)
    if byte_range:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    if request.method == "HEAD":
        return HttpResponse(status=status, content_type=_TYPES[file.kind], headers={**headers, "Content-Length": str(length)})
    handle = open(location, "rb")
    # A whole file goes as the open file, so a WSGI server can use sendfile(2).
    body = _Slice(handle, start, length) if byte_range else handle
    response = FileResponse(body, status=status, content_type=_TYPES[file.kind])
    for name, value in {**headers, "Content-Length": str(length)}.items():  # over what FileResponse guessed
        response.headers[name] = value
    response.block_size = BLOCK_SIZE
    return response


def _byte_range(header: str, size: int):
    """``(start, end)`` inclusive, None to send everything, or "unsatisfiable".

    One range only: several (``bytes=0-1,5-9``) may be answered with the whole
    file (RFC 9110 §14.2), and nothing that reads Parquet asks for several.
    """
    match = _RANGE.fullmatch(header.strip())
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if not first:  # the last N bytes
        if int(last) == 0:
            return "unsatisfiable"
        return max(0, size - int(last)), size - 1
    start = int(first)
    end = size - 1 if not last else min(int(last), size - 1)
    if last and int(last) < start:
        return None  # not a valid range: ignored, as the RFC says
    return "unsatisfiable" if start >= size else (start, end)


class _Slice:
    """``length`` bytes of ``handle`` from ``start``: what a 206 sends, never a byte past the range."""

    def __init__(self, handle, start: int, length: int):
        handle.seek(start)
        self.handle, self.left = handle, length

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        data = self.handle.read(size) if size else b""
        self.left -= len(data)
        return data

    def close(self) -> None:
        self.handle.close()


def _sendfile(location: Path, headers: dict, content_type: str) -> HttpResponse:
    """An empty answer naming the file for the web server in front, which then serves it, ranges included.

    ``X-Sendfile`` (Apache, lighttpd) takes the absolute path; ``X-Accel-Redirect``
    (nginx) a URL: ``SNAPSHOT_SENDFILE_PREFIX`` (an ``internal`` location mapped to
    DATA_DIR) followed by the path inside DATA_DIR.
    """
    header = settings.SNAPSHOT_SENDFILE_HEADER
    if header.lower() == "x-accel-redirect":
        data_dir = Path(settings.DATA_DIR).resolve()
        if data_dir not in location.parents:
            raise Http404("No such file.")
        value = settings.SNAPSHOT_SENDFILE_PREFIX.rstrip("/") + "/" + quote(location.relative_to(data_dir).as_posix())
    else:
        value = str(location)
    return HttpResponse(content_type=content_type, headers={**headers, header: value})
