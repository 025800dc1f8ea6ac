"""Read a Parquet member into items within the upload's expansion budget.

Parquet compresses inside the file, and a dictionary-encoded column more
than any codec: one stored value can stand for every row, so a file of a
few hundred bytes can decode to gigabytes. Hence, before a row becomes a
Python object:

- the metadata's uncompressed column sizes must fit the budget;
- rows are decoded in batches small enough that even rows that all repeat
  a column's largest dictionary value (bounded by its dictionary page) fit
  ``BATCH_BYTES``, and each batch is charged the bytes it decodes to;
- a repeated (list) column can hold any number of dictionary values in one
  row, so it is read as a dictionary, never expanded, and charged what its
  values stand for;
- a single row past the record limit becomes an error item, never built.
"""

import shutil
import tempfile
from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .containers import Member
from .errors import SubmissionRefused
from .items import Item, too_long
from .messages import Message
from .messages import gettext_noop as _

BATCH_ROWS = 1024
# What one batch may decode to at most: rows are cheap to read in small
# batches, and a worker holds this much besides the records it builds.
BATCH_BYTES = 16 * 1024**2
# Values of these types are at most 12 bytes, whatever their dictionary holds.
FIXED_WIDTH = {"BOOLEAN", "INT32", "INT64", "INT96", "FLOAT", "DOUBLE"}


def parquet_items(member: Member, max_bytes: int) -> Iterator[Item]:
    """Items of a Parquet member, numbered by row; refuses a file past the budget."""
    stream = _spooled(member.stream) if member.in_archive or not member.stream.seekable() else member.stream
    try:
        parquet = pq.ParquetFile(stream)
        metadata = parquet.metadata
        member.budget.require(_uncompressed_bytes(metadata), member.name)
        repeated = _repeated_dictionary_columns(parquet)
        if repeated:
            parquet = pq.ParquetFile(stream, metadata=metadata, read_dictionary=repeated)
        row = 1
        for group in range(metadata.num_row_groups):
            rows = _batch_rows(stream, metadata.row_group(group), repeated)
            for batch in parquet.iter_batches(batch_size=rows, row_groups=[group]):
                size = _batch_bytes(batch)
                member.budget.spend(size, member.name)
                yield from _rows(batch, size, row, max_bytes)
                row += batch.num_rows
    except SubmissionRefused:
        raise
    except Exception as exc:  # pyarrow raises several types for damaged files
        # The whole text is cut at 400 characters, as it always was.
        template = _("The Parquet file cannot be read: %(detail)s")
        detail = f"{type(exc).__name__}: {exc}"[: 400 - len(template % {"detail": ""})]
        raise SubmissionRefused(Message(template, {"detail": detail})) from None


def _spooled(stream):
    # An archive member may call itself seekable and still be a stream.
    spooled = tempfile.TemporaryFile()
    shutil.copyfileobj(stream, spooled, 1 << 20)
    spooled.seek(0)
    return spooled


def _chunks(metadata: pq.FileMetaData):
    for group in map(metadata.row_group, range(metadata.num_row_groups)):
        yield from map(group.column, range(group.num_columns))


def _uncompressed_bytes(metadata: pq.FileMetaData) -> int:
    return sum(chunk.total_uncompressed_size for chunk in _chunks(metadata))


def _repeated_dictionary_columns(parquet: pq.ParquetFile) -> list[str]:
    repeated = {
        parquet.schema.column(i).path for i in range(len(parquet.schema))
        if parquet.schema.column(i).max_repetition_level > 0 and parquet.schema.column(i).physical_type == "BYTE_ARRAY"
    }
    return sorted({c.path_in_schema for c in _chunks(parquet.metadata) if c.has_dictionary_page} & repeated)


def _batch_rows(stream, group: pq.RowGroupMetaData, repeated: list[str]) -> int:
    """Rows per batch such that rows all holding their columns' largest
    dictionary value fit ``BATCH_BYTES``; one where a page header is unreadable."""
    sizes = [
        _dictionary_page_bytes(stream, chunk)
        for chunk in map(group.column, range(group.num_columns))
        if chunk.has_dictionary_page and chunk.physical_type not in FIXED_WIDTH and chunk.path_in_schema not in repeated
    ]
    if None in sizes:
        return 1
    return max(1, min(BATCH_ROWS, BATCH_BYTES // max(sum(sizes), 1)))


def _dictionary_page_bytes(stream, chunk: pq.ColumnChunkMetaData) -> int | None:
    """The dictionary page's uncompressed size as its header says (the size
    the reader will decompress to; the footer's totals are not checked)."""
    stream.seek(chunk.dictionary_page_offset)
    fields = _leading_i32_fields(stream.read(16), 2)
    return fields[1] if fields else None


def _leading_i32_fields(header: bytes, count: int) -> list[int] | None:
    """Fields 1…``count`` of a Thrift compact struct, when they come first and
    are i32s (a page header: its type, then its uncompressed size)."""
    values, position = [], 0
    for _ in range(count):
        if header[position:position + 1] != b"\x15":  # field id + 1, type i32
            return None
        value, shift, position = 0, 0, position + 1
        while True:
            if position >= len(header):
                return None
            byte = header[position]
            position += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        values.append((value >> 1) ^ -(value & 1))  # zigzag
    return values


def _rows(batch: pa.RecordBatch, size: int, first_row: int, max_bytes: int) -> Iterator[Item]:
    if size <= max_bytes:
        for offset, data in enumerate(batch.to_pylist()):
            yield Item(first_row + offset, data=data)
    elif batch.num_rows == 1:
        yield too_long(first_row, max_bytes)
    else:
        half = batch.num_rows // 2
        for part, start in ((batch.slice(0, half), 0), (batch.slice(half), half)):
            yield from _rows(part, _batch_bytes(part), first_row + start, max_bytes)


def _batch_bytes(batch: pa.RecordBatch) -> int:
    return sum(_logical_bytes(column) for column in batch.columns)


def _logical_bytes(array: pa.Array) -> int:
    """The bytes ``array``'s values take once decoded, dictionaries expanded."""
    kind = array.type
    if pa.types.is_dictionary(kind):
        values = array.dictionary
        if not (pa.types.is_string(values.type) or pa.types.is_binary(values.type)
                or pa.types.is_large_string(values.type) or pa.types.is_large_binary(values.type)):
            return len(array) * max(values.nbytes // max(len(values), 1), 1)
        return (pc.sum(pc.take(pc.binary_length(values), array.indices)).as_py() or 0) + array.indices.nbytes
    if isinstance(array, (pa.ListArray, pa.LargeListArray, pa.FixedSizeListArray)):
        return _logical_bytes(array.flatten()) + 8 * len(array)
    if isinstance(array, pa.StructArray):
        return sum(_logical_bytes(field) for field in array.flatten())
    return array.nbytes
