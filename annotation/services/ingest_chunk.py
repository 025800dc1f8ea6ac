"""One chunk's records: read, check, deduplicate, bulk insert, save their MinHash signatures.

Inserts are committed batch by batch, keyed by ``(submission, line)``; a
chunk processed again finds its earlier rows and counts them, so figures
stay right after a crash and no record is ever stored twice. The chunk's
signatures go to the signature store as one Parquet part, written whole
again by a chunk processed again.

Pretraining text and quality signals go to the chunk's Parquet file
(annotation.corpus.record_files), written by every attempt whole: each
batch's stored rows, this attempt's and earlier ones', as a row group. The
attempt that marks the chunk done points the chunk at its file.
"""

import json
import logging
from dataclasses import dataclass

import numpy as np

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from annotation.corpus.record_files import RecordFileWriter, file_name
from annotation.ingest import pii, quality
from annotation.ingest.checks import Checked, check_records, is_blank
from annotation.ingest.errors import describe_failure
from annotation.ingest.formats import parse_json_line
from annotation.ingest.items import Item, too_long
from annotation.ingest.messages import Message, stored_message
from annotation.ingest.messages import gettext_noop as _
from annotation.ingest.schemas import RecordError, validate
from annotation.ingest.stats import ChunkStats
from annotation.models import IngestChunk, Record
from annotation.models.records import quality_columns
from annotation.models.submissions import Kind

from .record_store import records_insert
from .signatures import signatures_save

log = logging.getLogger(__name__)

CHECK_FAILED = Message(_("the record could not be checked (an internal error, logged)"))
EMPTY = Message(_("nothing is left after normalisation"))
DUPLICATE_OF = _("exact duplicate of line %(line)s of submission #%(submission)s")
DUPLICATE_OF_UNKNOWN = Message(_("exact duplicate of a record another upload stored at the same time"))


@dataclass
class _Row:
    line: int
    origin: str
    checked: Checked | None  # None until the batch is checked
    external_id: str
    meta: dict
    content: dict  # as validated, before the checks
    item_line: int  # the line rejections name (a spooled archive member's own line)
    pii_redactions: int  # in origin, id and meta so far; the checks add the texts'


def iter_chunk_items(chunk: IngestChunk):
    """Yield ``(line, origin, item)`` for every non-blank line of the chunk."""
    max_bytes = settings.INGEST["MAX_RECORD_BYTES"]
    with default_storage.open(chunk.path, "rb") as stream:
        stream.seek(chunk.start)
        position, line = chunk.start, chunk.first_line - 1
        while position < chunk.end:
            raw = stream.readline(min(max_bytes + 1, chunk.end - position))
            if not raw:
                break
            position += len(raw)
            line += 1
            if line == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if len(raw) > max_bytes and not raw.endswith(b"\n"):
                position += _skip_line(stream, chunk.end - position)
                yield line, "", too_long(line, max_bytes)
                continue
            if not raw.strip():
                continue
            text = raw.decode("utf-8")
            if chunk.spooled:
                envelope = json.loads(text)
                item = Item(envelope["n"], data=envelope.get("r"), error=_spooled_error(envelope))
                yield line, envelope.get("o", ""), item
            else:
                yield line, "", parse_json_line(text, line)


def _spooled_error(envelope: dict) -> Message | None:
    # A spool written before messages were translatable holds only the English "e".
    return stored_message(envelope.get("m"), envelope.get("e"))


def _skip_line(stream, budget: int) -> int:
    skipped = 0
    while skipped < budget:
        piece = stream.readline(min(1 << 20, budget - skipped))
        skipped += len(piece)
        if not piece or piece.endswith(b"\n"):
            break
    return skipped


def process_chunk_records(chunk: IngestChunk) -> tuple[ChunkStats, str]:
    """Store the chunk's records; returns its figures and the name of this attempt's records file.

    The name is empty for kinds whose text stays in PostgreSQL, and for a
    chunk that stored no record. The file is stored but not current:
    ``ingest_chunk_process`` makes it so.
    """
    submission = chunk.submission
    config = settings.INGEST
    stats = ChunkStats(max_errors=config["MAX_ERRORS_KEPT"])
    writer = RecordFileWriter() if submission.kind == Kind.PRETRAINING else None
    batch: list[_Row] = []
    signatures: list[tuple[np.ndarray, np.ndarray]] = []  # (lines, bands) per batch: kept for the chunk, not its texts
    try:
        for line, origin, item in iter_chunk_items(chunk):
            stats.records_read += 1
            row = _validate(item, line, origin, submission, stats)
            if row is not None:
                batch.append(row)
            if len(batch) >= config["BATCH_RECORDS"]:
                _store(_check(batch, submission, stats, config["TOKENIZER"]), submission, stats, writer, signatures)
                _beat(chunk)
                batch = []
        if batch:
            _store(_check(batch, submission, stats, config["TOKENIZER"]), submission, stats, writer, signatures)
    except BaseException:
        if writer is not None:
            writer.discard()
        raise
    if signatures:
        lines, bands = np.concatenate([s[0] for s in signatures]), np.concatenate([s[1] for s in signatures])
        order = np.argsort(lines, kind="stable")
        signatures_save(submission_id=submission.pk, part=str(chunk.index), lines=lines[order], bands=bands[order])
    if writer is None:
        return stats, ""
    if not writer.rows:  # every line of the chunk was refused
        writer.discard()
        return stats, ""
    return stats, writer.save(default_storage, file_name(submission.pk, chunk.index))


def _store(batch: list[_Row], submission, stats: ChunkStats, writer: RecordFileWriter | None, signatures: list) -> None:
    stored = _flush(batch, submission, stats)
    if stored:  # as int64 arrays: 112 bytes a record, where a list of Python ints is about 600
        lines = np.array([r.line for r in stored], dtype=np.int64)
        signatures.append((lines, np.array([r.checked.bands for r in stored], dtype=np.int64).reshape(len(stored), -1)))
    if writer is not None:
        stored.sort(key=lambda r: r.line)
        writer.add((r.line, r.checked.content["text"], r.checked.quality) for r in stored)



def _beat(chunk: IngestChunk) -> None:
    # The chunk's lease: a worker silent for CHUNK_STALL_SECONDS is taken for dead.
    IngestChunk.objects.filter(pk=chunk.pk).update(heartbeat_at=timezone.now())


def _validate(item: Item, line: int, origin: str, submission, stats: ChunkStats) -> _Row | None:
    origin, found = pii.redact(origin)  # an archive member's name may hold personal data
    if item.error:
        stats.reject("unreadable", item.line, item.error, origin)
        return None
    try:
        content, external_id, meta = validate(submission.kind, item.data)
    except RecordError as exc:
        stats.reject("wrong_schema", item.line, exc.message, origin)
        return None
    # The checks redact the texts; the record's other strings are stored too.
    external_id, found_in_id = pii.redact(external_id)
    meta, found_in_meta = pii.redact_data(meta)
    return _Row(
        line=line, origin=origin, checked=None, external_id=external_id, meta=meta, content=content,
        item_line=item.line, pii_redactions=found + found_in_id + found_in_meta,
    )


def _check(batch: list[_Row], submission, stats: ChunkStats, tokenizer: str) -> list[_Row]:
    """The rows of ``batch`` checked in one call; a failing batch is checked row by row to find the culprit."""
    kind, language = submission.kind, submission.language.code
    try:
        checked = check_records(kind, [row.content for row in batch], language=language, tokenizer=tokenizer)
    except Exception as exc:
        if len(batch) == 1:  # a check must never take the worker down; say which line
            # The exception's text may quote the record: log where it failed, not what it said.
            log.error("check failed on submission %s line %s: %s", submission.pk, batch[0].item_line, describe_failure(exc))
            stats.reject("check_failed", batch[0].item_line, CHECK_FAILED, batch[0].origin)
            return []
        return [row for one in batch for row in _check([one], submission, stats, tokenizer)]
    kept = []
    for row, result in zip(batch, checked):
        if is_blank(kind, result.content):
            stats.reject("empty", row.item_line, EMPTY, row.origin)
        else:
            row.checked = result
            row.pii_redactions += result.pii_redactions
            kept.append(row)
    return kept


def _flush(batch: list[_Row], submission, stats: ChunkStats) -> list[_Row]:
    """Insert the batch's new records; returns the rows stored as this chunk's, now or by an earlier attempt."""
    if not batch:
        return []
    batch.sort(key=lambda r: r.checked.content_hash)  # one lock order for concurrent chunks
    hashes = [r.checked.content_hash for r in batch]
    stored = Record.objects.filter(content_hash__in=hashes).only("content_hash", "submission_id", "line", "origin")
    owners = {record.content_hash.hex: record for record in stored}  # a uuid column; the checks give hex
    new, ours, seen = [], [], {}
    for row in batch:
        owner = owners.get(row.checked.content_hash) or seen.get(row.checked.content_hash)
        if isinstance(owner, Record) and (owner.submission_id, owner.line) == (submission.pk, row.line):
            ours.append(row)  # stored by an earlier run of this chunk
        elif owner is not None:
            _duplicate(stats, row, owner, submission)
        else:
            seen[row.checked.content_hash] = row
            new.append(row)
    with transaction.atomic():
        inserted = records_insert([_record_row(r, submission) for r in new])
    for row in new:
        if row.line in inserted:
            ours.append(row)
        else:  # another upload stored the same text a moment earlier
            _duplicate(stats, row, None, submission)
    for row in ours:
        stats.records_accepted += 1
        stats.language_mismatches += row.checked.language_mismatch
        stats.pii_redactions += row.pii_redactions
        stats.tokens += row.checked.tokens
        quality.histogram_add(stats.histograms, row.checked.quality)
    return ours


def _duplicate(stats: ChunkStats, row: _Row, owner: Record | _Row | None, submission) -> None:
    """Reject ``row`` as an exact duplicate of ``owner``: a stored record, a row of this batch, or unknown (None).

    The rejection names the line it repeats and that line's submission by
    number only (never its partner), and counts the submission for an
    all-duplicates upload's message (``_failure_reason``).
    """
    stats.exact_duplicates += 1
    if owner is None:
        stats.reject("exact_duplicate", row.item_line, DUPLICATE_OF_UNKNOWN, row.origin)
        return
    if not isinstance(owner, Record):
        owner = Record(submission_id=submission.pk, line=owner.line, origin=owner.origin)
    stats.duplicates_of[str(owner.submission_id)] += 1
    message = Message(DUPLICATE_OF, {"line": owner.shown_line, "submission": owner.submission_id})
    stats.reject("exact_duplicate", row.item_line, message, row.origin)


def _record_row(row: _Row, submission) -> dict:
    checked = row.checked
    return {
        "submission_id": submission.pk,
        "line": row.line,
        "origin": row.origin[:300],
        "language_id": submission.language_id,
        "kind": submission.kind,
        "content": {} if submission.kind == Kind.PRETRAINING else checked.content,
        "external_id": row.external_id,
        "meta": row.meta,
        "content_hash": checked.content_hash,
        "status": Record.Status.PENDING,
        "detected_language": checked.detected_language,
        "language_score": checked.language_score,
        "language_mismatch": checked.language_mismatch,
        "pii_redactions": row.pii_redactions,
        "tokens": checked.tokens,
        **quality_columns(checked.quality),
        "redactions": checked.quality.get("redactions") or None,
    }
