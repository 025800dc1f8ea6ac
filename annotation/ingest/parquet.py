"""Read a Parquet member into items within the upload's expansion budget.

Parquet compresses inside the file, and encodes inside it too: a
dictionary value can stand for any number of rows through run-length
encoded indices that take a few bytes, so a file of a few hundred bytes
can decode to gigabytes. Hence, before a row becomes a Python object:

- every column chunk's page headers bound what it decodes to
  (``parquet_pages.py``), and the bounds must fit the budget;
- a string column whose dictionary-encoded values could pass
  ``DICTIONARY_BYTES`` is read as a dictionary, never expanded, and each
  batch is charged what its values stand for; the rest is read as plain
  values, in batches small enough for fixed-width values as wide as a
  writer likes and for delta-encoded strings;
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
from .parquet_pages import FIXED_WIDTHS, chunk_bound

BATCH_ROWS = 1024
# What one batch may decode to from dictionary values, and what a column
# chunk's dictionary-encoded values may decode to before it is read as a
# dictionary (slower, and kept whole for the row group, where a writer fell
# back to plain pages).
BATCH_BYTES = DICTIONARY_BYTES = 16 * 1024**2


def parquet_items(member: Member, max_bytes: int) -> Iterator[Item]:
    """Items of a Parquet member, numbered by row; refuses a file past the budget."""
    stream = _spooled(member.stream) if member.in_archive or not member.stream.seekable() else member.stream
    try:
        parquet = pq.ParquetFile(stream)
        plans = [_group_plan(stream, parquet, group) for group in range(parquet.metadata.num_row_groups)]
        member.budget.require(sum(bound for bound, _columns, _rows in plans), member.name)
        row = 1
        for group, (_bound, dictionary_columns, rows) in enumerate(plans):
            reader = pq.ParquetFile(stream, metadata=parquet.metadata, read_dictionary=dictionary_columns or None)
            for batch in reader.iter_batches(batch_size=rows, row_groups=[group]):
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


def _group_plan(stream, parquet: pq.ParquetFile, index: int) -> tuple[int, list[str], int]:
    """A row group's bound (what must fit the budget before reading), the
    columns to read as dictionaries, and the rows per batch."""
    group, bound, dictionary_columns, widest = parquet.metadata.row_group(index), 0, [], 0
    for i in range(group.num_columns):
        chunk, column = group.column(i), parquet.schema.column(i)
        width = column.length if column.physical_type == "FIXED_LEN_BYTE_ARRAY" else FIXED_WIDTHS.get(column.physical_type)
        chunk_size = chunk_bound(stream, chunk, width)
        if width is None and chunk_size.dictionary > DICTIONARY_BYTES:
            dictionary_columns.append(column.path)
            bound += chunk_size.plain + chunk_size.stored
        else:
            bound += chunk_size.plain + chunk_size.dictionary
        # A string column read plain decodes to DICTIONARY_BYTES at most from its dictionary, whatever the batch.
        widest += chunk_size.widest
    return bound, dictionary_columns, max(1, min(BATCH_ROWS, BATCH_BYTES // max(widest, 1)))


def _spooled(stream):
    # An archive member may call itself seekable and still be a stream.
    spooled = tempfile.TemporaryFile()
    shutil.copyfileobj(stream, spooled, 1 << 20)
    spooled.seek(0)
    return spooled


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
