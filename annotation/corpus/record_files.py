"""Pretraining records' text and quality signals in Parquet, one immutable file per ingest chunk.

A file holds the records one ingest chunk stored, in line order: ``line``,
``text`` and every quality signal as a typed column, zstd-compressed.
Files are never changed: a new version (another attempt, a withdrawal) is a
new name, and the chunk's row in PostgreSQL says which one is current, so a
file becomes visible in the same commit that points at it.

Works with any Django-like storage (``open``, ``save``, ``delete``,
``exists``): the data folder, or S3 in production. Memory stays flat: a
writer spools row groups to a temporary file, a reader loads one file.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from annotation.ingest import quality

# Every signal the checks give, in their order: an empty text has them all.
SIGNALS = tuple(quality.quality_signals("", "en"))
_COUNTS = {"chars", "words", "stop_words", "lines"}
SCHEMA = pa.schema(
    [("line", pa.int64()), ("text", pa.string())]
    + [(name, pa.int64() if name in _COUNTS else pa.float64()) for name in SIGNALS]
)
COMPRESSION = "zstd"


def folder(submission_id: int) -> str:
    """Where a submission's files are: ``records/<submission>``."""
    return f"records/{submission_id}"


def file_name(submission_id: int, chunk_index: int) -> str:
    """A new, unused name for a version of a chunk's file: ``records/<submission>/<chunk>-<version>.parquet``."""
    return f"{folder(submission_id)}/{chunk_index}-{uuid.uuid4().hex[:12]}.parquet"


class RecordFileWriter:
    """Collects a chunk's records row group by row group; ``save`` stores them as one file."""

    def __init__(self):
        self._spool = tempfile.TemporaryFile()
        self._writer = pq.ParquetWriter(self._spool, SCHEMA, compression=COMPRESSION)
        self.rows = 0

    def add(self, rows: Iterable[tuple[int, str, dict]]) -> None:
        """Append ``(line, text, signals)`` rows, as one row group."""
        rows = list(rows)
        if not rows:
            return
        columns = {"line": [r[0] for r in rows], "text": [r[1] for r in rows]}
        columns |= {name: [r[2].get(name) for r in rows] for name in SIGNALS}
        self._writer.write_table(pa.Table.from_pydict(columns, schema=SCHEMA))
        self.rows += len(rows)

    def add_table(self, table: pa.Table) -> None:
        """Append rows already in ``SCHEMA``."""
        if table.num_rows:
            self._writer.write_table(table.select(SCHEMA.names).cast(SCHEMA))
            self.rows += table.num_rows

    def save(self, storage, name: str) -> str:
        """Store the file under ``name`` (the storage's final name is returned) and release the spool."""
        self._writer.close()
        self._spool.seek(0)
        try:
            return storage.save(name, self._spool)
        finally:
            self._spool.close()

    def discard(self) -> None:
        self._writer.close()
        self._spool.close()


def read(storage, name: str, columns: list[str] | None = None, lines: list[int] | None = None) -> pa.Table:
    """The file's rows (all columns, or ``columns``; all rows, or those at ``lines``), in line order.

    With ``lines``, row groups whose line range holds none of them are not read.
    """
    with storage.open(name, "rb") as stream:
        if lines is None:
            # Straight from the file: read_table goes through pyarrow.dataset,
            # whose first use (it imports pandas) cost a snapshot build half a second.
            return pq.ParquetFile(stream).read(columns=columns)
        return pq.read_table(stream, columns=columns, filters=[("line", "in", lines)])


def rows(storage, name: str) -> int:
    """How many rows the file holds (from its footer)."""
    with storage.open(name, "rb") as stream:
        return pq.ParquetFile(stream).metadata.num_rows


def texts(storage, name: str, lines: list[int] | None = None) -> dict[int, str]:
    """``{line: text}`` of one file (of the rows at ``lines``, if given)."""
    table = read(storage, name, ["line", "text"], lines)
    return dict(zip(table.column("line").to_pylist(), table.column("text").to_pylist()))


def rewrite_without(storage, name: str, new_name: str, lines: set[int]) -> str:
    """A new version of file ``name`` without the rows at ``lines``; returns its stored name.

    The old file stays; the caller deletes it once nothing points at it.
    """
    table = read(storage, name)
    gone = pc.is_in(table.column("line"), value_set=pa.array(sorted(lines), table.schema.field("line").type))
    keep = pc.invert(gone)
    writer = RecordFileWriter()
    writer.add_table(table.filter(keep))
    return writer.save(storage, new_name)
