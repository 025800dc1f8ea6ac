"""Open an upload as a sequence of members: the file itself, or what an
archive (.gz, .zip, .tar, .tar.gz) holds, with every archive hazard refused.

Refused, with the member's name: paths outside the archive, links, device
files, nested archives, too many members, and expansion past the configured
size or ratio (zip bombs). Sizes in archive headers are not trusted: bytes
are counted as they are read.

Every upload spends one expansion budget, plain or archived: a plain file
or tar is charged its size up front (it is its own expansion), a
decompressed stream each byte it yields, and a Parquet member the bytes
its columns decode to (``parquet.py``), since Parquet compresses inside.
"""

import gzip
import io
import posixpath
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from .errors import SubmissionRefused
from .messages import Message
from .messages import gettext_noop as _

FORMATS = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv",
    ".txt": "text", ".text": "text", ".md": "text",
    ".parquet": "parquet",
}
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tgz", ".tar.gz", ".gz", ".bz2", ".xz", ".zst", ".7z", ".rar")
SUPPORTED = ".jsonl, .csv, .tsv, .txt, .parquet, or .gz, .zip, .tar.gz holding them"


@dataclass(frozen=True)
class Limits:
    max_expanded_bytes: int
    max_ratio: int
    max_members: int


class Budget:
    """The bytes an upload may expand to: the size limit, or its own size
    times the ratio limit, whichever is smaller, shared by all its members."""

    def __init__(self, limits: Limits, filename: str, compressed_size: int):
        self.limit = min(limits.max_expanded_bytes, max(compressed_size, 1) * limits.max_ratio)
        self.filename = filename
        self.used = 0

    def require(self, n: int, member: str = "") -> None:
        """Refuse now if ``n`` more bytes would pass the limit, spending nothing."""
        if self.used + n > self.limit:
            label = f"{self.filename}/{member}" if member else self.filename
            raise _refused(_("%(name)s expands past %(limit)s bytes "
                             "(the size or compression-ratio limit): refused as a possible archive bomb."),
                           name=label, limit=f"{self.limit:,}")

    def spend(self, n: int, member: str = "") -> None:
        self.require(n, member)
        self.used += n


@dataclass
class Member:
    """One stream to parse. ``name`` is empty for a plain upload."""

    name: str
    format: str
    stream: BinaryIO
    budget: Budget
    in_archive: bool = False


class _CountingReader(io.RawIOBase):
    """A read-only stream that charges every byte to the expansion budget."""

    def __init__(self, raw, budget: Budget, name: str):
        self._raw, self._budget, self._name = raw, budget, name

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self._raw.read(len(buffer))
        self._budget.spend(len(data), self._name)
        buffer[: len(data)] = data
        return len(data)


def _refused(template: str, **params) -> SubmissionRefused:
    return SubmissionRefused(Message(template, params))


def _counted(raw, budget, name) -> BinaryIO:
    return io.BufferedReader(_CountingReader(raw, budget, name), buffer_size=1 << 20)


def format_of(name: str) -> str:
    lower = name.lower()
    for suffix, fmt in FORMATS.items():
        if lower.endswith(suffix):
            return fmt
    raise _refused(_("Unsupported file type: %(name)s. Use %(supported)s."), name=repr(name), supported=SUPPORTED)


def _sniff(head: bytes) -> str | None:
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if len(head) > 262 and head[257:262] == b"ustar":
        return "tar"
    return None


def iter_members(fileobj: BinaryIO, filename: str, size: int, limits: Limits) -> Iterator[Member]:
    """Yield the members to parse, in order; raise ``SubmissionRefused`` on a hazard."""
    head = fileobj.read(512)
    fileobj.seek(0)
    kind = _sniff(head)
    budget = Budget(limits, filename, size)
    lower = filename.lower()
    if kind == "zip":
        yield from _zip_members(fileobj, limits, budget)
    elif kind == "tar":
        budget.spend(size)
        yield from _tar_members(fileobj, limits, budget)
    elif kind == "gzip":
        inner = _counted(gzip.GzipFile(fileobj=fileobj, mode="rb"), budget, "")
        inner_head = inner.peek(512)[:512]
        if _sniff(inner_head) == "tar" or lower.endswith((".tgz", ".tar.gz")):
            yield from _tar_members(inner, limits, budget, stream=True)
        elif _sniff(inner_head) is not None:
            raise _refused(_("%(name)s holds a nested archive; upload the inner files directly."), name=repr(filename))
        else:
            inner_name = filename[:-3] if lower.endswith(".gz") else filename
            yield Member(name="", format=format_of(inner_name), stream=inner, budget=budget)
    else:
        fmt = format_of(filename)
        budget.spend(size)
        yield Member(name="", format=fmt, stream=fileobj, budget=budget)


def _check_name(name: str) -> None:
    normalised = name.replace("\\", "/")
    parts = normalised.split("/")
    if normalised.startswith("/") or ".." in parts or (len(parts[0]) == 2 and parts[0][1] == ":"):
        raise _refused(_("Archive member %(name)s has a path outside the archive: refused."), name=repr(name))


def _skippable(name: str) -> bool:
    base = posixpath.basename(name.rstrip("/"))
    return name.startswith("__MACOSX/") or base.startswith(".")


def _member_format(name: str) -> str:
    if name.lower().endswith(ARCHIVE_SUFFIXES):
        raise _refused(_("Archive member %(name)s is itself an archive; nested archives are refused."), name=repr(name))
    return format_of(name)


def _zip_members(fileobj, limits: Limits, budget: Budget) -> Iterator[Member]:
    try:
        archive = zipfile.ZipFile(fileobj)
    except zipfile.BadZipFile as exc:
        raise _refused(_("The zip archive cannot be read: %(detail)s."), detail=str(exc)) from None
    infos = archive.infolist()
    if len(infos) > limits.max_members:
        raise _refused(_("The archive holds %(count)s members; the limit is %(limit)s."),
                       count=f"{len(infos):,}", limit=f"{limits.max_members:,}")
    for info in infos:
        _check_name(info.filename)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise _refused(_("Archive member %(name)s is a symbolic link: refused."), name=repr(info.filename))
        if info.is_dir() or _skippable(info.filename):
            continue
        fmt = _member_format(info.filename)
        if info.compress_size and info.file_size / info.compress_size > limits.max_ratio:
            raise _refused(
                _("Archive member %(name)s would expand %(ratio)s-fold: refused as a possible archive bomb."),
                name=repr(info.filename), ratio=f"{info.file_size / info.compress_size:,.0f}",
            )
        with archive.open(info) as raw:
            yield Member(info.filename, fmt, _counted(raw, budget, info.filename), budget, in_archive=True)


def _tar_members(fileobj, limits: Limits, budget: Budget, stream: bool = False) -> Iterator[Member]:
    try:
        archive = tarfile.open(fileobj=fileobj, mode="r|" if stream else "r|*")
    except tarfile.TarError as exc:
        raise _refused(_("The tar archive cannot be read: %(detail)s."), detail=str(exc)) from None
    count = 0
    try:
        for info in archive:
            count += 1
            if count > limits.max_members:
                raise _refused(_("The archive holds more than %(limit)s members."), limit=f"{limits.max_members:,}")
            _check_name(info.name)
            if info.issym() or info.islnk():
                raise _refused(_("Archive member %(name)s is a link: refused."), name=repr(info.name))
            if info.isdir() or _skippable(info.name):
                continue
            if not info.isfile():
                raise _refused(_("Archive member %(name)s is not a regular file: refused."), name=repr(info.name))
            fmt = _member_format(info.name)
            # A tar's bytes are already charged: its size up front, or its gzip stream as it expands.
            yield Member(info.name, fmt, archive.extractfile(info), budget, in_archive=True)
    except tarfile.TarError as exc:
        raise _refused(_("The tar archive is damaged: %(detail)s."), detail=str(exc)) from None
