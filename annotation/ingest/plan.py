"""Cut an upload into chunks that workers can process in parallel.

A plain UTF-8 JSONL upload is read in place: one streaming pass checks its
encoding and cuts byte ranges at line ends. Anything else (CSV, text,
Parquet, UTF-16, archives) is parsed once into a *spool*: JSON lines of
``{"n": line, "o": origin, "r": record}`` or ``{"n", "o", "e": error}``,
cut the same way. Either way no file is ever read into memory whole.
"""

import json
import tempfile
from dataclasses import dataclass
from typing import BinaryIO, Callable

from .containers import Limits, Member, iter_members
from .decoding import BLOCK, Utf8Validator, stream_encoding
from .errors import SubmissionRefused
from .formats import iter_items
from .messages import Message
from .messages import gettext_noop as _


# An upload is cut into about this many chunks (within the configured
# smallest and largest chunk sizes), so that several workers finish close
# together instead of one working alone through the last large chunk.
CHUNK_SPREAD = 32


def chunk_bytes_for(upload_bytes: int, *, smallest: int, largest: int) -> int:
    """The chunk size for an upload of ``upload_bytes``."""
    return max(smallest, min(largest, upload_bytes // CHUNK_SPREAD))


@dataclass(frozen=True)
class ChunkPlan:
    start: int
    end: int
    first_line: int


class _Cutter:
    """Tracks byte offsets and line numbers, and cuts a chunk at a line end."""

    def __init__(self, chunk_bytes: int, origin: int = 0):
        self.chunk_bytes = chunk_bytes
        self.chunks: list[ChunkPlan] = []
        self.start, self.first_line = origin, 1

    def cut(self, end: int, next_line: int) -> None:
        if end > self.start:
            self.chunks.append(ChunkPlan(self.start, end, self.first_line))
        self.start, self.first_line = end, next_line

    def due(self, position: int) -> bool:
        return position - self.start >= self.chunk_bytes


def is_plain_utf8_jsonl(member: Member) -> bool:
    if member.in_archive or member.name or member.format != "jsonl" or not member.stream.seekable():
        return False
    return stream_encoding(member.stream) in ("utf-8", "utf-8-sig")


def plan_in_place(stream: BinaryIO, chunk_bytes: int) -> list[ChunkPlan]:
    """Chunks of a plain UTF-8 JSONL stream, checking its encoding on the way."""
    validator = Utf8Validator()
    cutter = _Cutter(chunk_bytes)
    position = 0
    while block := stream.read(BLOCK):
        validator_lines = validator.newlines
        validator.feed(block)
        search_from = 0
        while cutter.due(position + len(block)):
            target = max(cutter.start + chunk_bytes - position, search_from)
            newline = block.find(b"\n", target)
            if newline == -1:
                break
            cut = position + newline + 1
            cutter.cut(cut, validator_lines + block.count(b"\n", 0, newline + 1) + 1)
            search_from = newline + 1
        position += len(block)
    validator.feed(b"", final=True)
    cutter.cut(position, 0)
    return cutter.chunks


def plan_spool(members, spool: BinaryIO, chunk_bytes: int, max_record_bytes: int) -> tuple[list[ChunkPlan], int]:
    """Parse every member into ``spool``; return its chunks and the item count."""
    cutter = _Cutter(chunk_bytes)
    position, count = 0, 0
    for member in members:
        label = f"{member.name}:" if member.name else ""
        for item in iter_items(member, max_record_bytes=max_record_bytes):
            count += 1
            envelope = {"n": item.line, "o": f"{label}{item.line}"}
            if item.error:
                # "e" is the English text, as spools written before translation held; "m" the translatable message.
                envelope["e"], envelope["m"] = str(item.error), item.error.as_dict()
            else:
                envelope["r"] = item.data
            line = json.dumps(envelope, ensure_ascii=False, default=str).encode("utf-8") + b"\n"
            spool.write(line)
            position += len(line)
            if cutter.due(position):
                cutter.cut(position, count + 1)
    cutter.cut(position, 0)
    return cutter.chunks, count


def plan_upload(
    *,
    open_upload: Callable[[], BinaryIO],
    filename: str,
    size: int,
    limits: Limits,
    chunk_bytes: int,
    max_record_bytes: int,
    save_spool: Callable[[BinaryIO], str],
) -> tuple[list[ChunkPlan], str | None]:
    """Plan an upload's chunks; returns them and the spool's storage name, if any.

    Raises ``SubmissionRefused`` for a file that cannot be ingested at all.
    """
    with open_upload() as stream:
        members = iter_members(stream, filename, size, limits)
        first = next(members, None)
        if first is None:
            raise SubmissionRefused(Message(_("The archive holds no files to read.")))
        if is_plain_utf8_jsonl(first):
            chunks = plan_in_place(first.stream, chunk_bytes)
            if not chunks:
                raise SubmissionRefused(Message(_("The file is empty.")))
            return chunks, None
        with tempfile.TemporaryFile() as spool:
            chunks, count = plan_spool(_chain(first, members), spool, chunk_bytes, max_record_bytes)
            if count == 0:
                raise SubmissionRefused(Message(_("The file holds no records.")))
            spool.seek(0)
            return chunks, save_spool(spool)


def _chain(first, rest):
    yield first
    yield from rest
