"""Parquet shards per language and split, byte-identical for identical input.

One fixed schema for every kind (unused columns are null), so
``datasets.load_dataset("parquet", data_dir=…)`` joins all shards. Row
groups have a fixed size and nothing time-dependent goes into the file
metadata, so the same rows give the same bytes. A writer holds less than
one row group in memory, plus the batch it was just handed.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
SCHEMA = pa.schema(
    [
        ("record_id", pa.int64()),
        ("submission_id", pa.int64()),
        ("kind", pa.string()),
        ("language", pa.string()),
        ("text", pa.string()),
        ("system", pa.string()),
        ("prompt", pa.string()),
        ("response", pa.string()),
        ("messages", pa.list_(MESSAGE)),
        ("question", pa.string()),
        ("choices", pa.list_(pa.string())),
        ("answer", pa.int64()),
        # Preference pairs in TRL's layout (preference.py: one row per pair); a
        # column has one type, so a conversation prompt goes to prompt_messages.
        ("prompt_messages", pa.list_(MESSAGE)),
        ("chosen", pa.string()),
        ("rejected", pa.string()),
        ("tokens", pa.int64()),
    ]
)

# Dictionary encoding only for the columns whose values repeat. Tried on
# every column, it hashed each text into a dictionary that overflowed and
# fell back to plain: half the build's writing time, and bigger files.
DICTIONARY = ["submission_id", "kind", "language", "system", "messages.list.element.role", "answer"]


def table_for(columns: dict[str, list], rows: int) -> pa.Table:
    """A batch as a table of ``SCHEMA``; a column missing from ``columns`` is all null."""
    columns = _one_type_per_column(columns)
    arrays = [
        pa.array(columns[f.name], type=f.type) if f.name in columns else pa.nulls(rows, type=f.type) for f in SCHEMA
    ]
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def _one_type_per_column(columns: dict[str, list]) -> dict[str, list]:
    """Preference pairs' prompt turns moved to ``prompt_messages``."""
    prompts = columns.get("prompt")
    if prompts is not None and any(isinstance(p, list) for p in prompts):
        columns = {**columns, "prompt": [None if isinstance(p, list) else p for p in prompts],
                   "prompt_messages": [p if isinstance(p, list) else None for p in prompts]}
    return columns


class ShardWriter:
    """Writes ``<root>/<language>/<split>-NNNNN.parquet``, rolling over every ``rows_per_shard`` rows.

    Row groups are compressed and written on the writer's own threads while
    the build reads and places the next batch (pyarrow lets go of the GIL
    while it compresses). Shard ``n`` is written by thread ``n % THREADS``,
    in order, so a split as large as ``train`` fills two files at once and
    each file's bytes never depend on timing. At most ``IN_FLIGHT`` row
    groups wait; the threads' errors come out of the next ``add`` or ``close``.
    """

    THREADS = 2
    IN_FLIGHT = 8

    def __init__(self, root: Path, language: str, split: str, *, rows_per_shard: int, row_group_rows: int):
        self.folder = Path(root) / language
        self.split = split
        self.rows_per_shard = rows_per_shard
        self.row_group_rows = min(row_group_rows, rows_per_shard)
        self.pending: list[pa.Table] = []  # rows not yet written, in order
        self.pending_rows = 0
        self.shards: list[dict] = []  # {"path", "rows"} of closed shards
        self._writer: pq.ParquetWriter | None = None
        self._path: Path | None = None
        self._rows_in_shard = 0
        self._threads = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"shards-{language}-{split}")
                         for _ in range(self.THREADS)]
        self._in_flight: deque[Future] = deque()

    def add(self, table: pa.Table) -> None:
        """Append rows (of ``SCHEMA``); full row groups are written at once."""
        if not table.num_rows:
            return
        self.pending.append(table)
        self.pending_rows += table.num_rows
        while self.pending_rows >= self._next_group():
            self._write(self._next_group())

    def close(self) -> list[dict]:
        try:
            if self.pending_rows:
                self._write(self.pending_rows)
            self._close_shard()
            while self._in_flight:
                self._in_flight.popleft().result()
        finally:
            self.discard()
        return self.shards

    def discard(self) -> None:
        """Stop writing (a failed build, or done): queued row groups are dropped, the threads end."""
        for thread in self._threads:
            thread.shutdown(wait=True, cancel_futures=True)

    def _next_group(self) -> int:
        # A row group never spans two shards.
        return min(self.row_group_rows, self.rows_per_shard - self._rows_in_shard)

    def _submit(self, work, *args) -> None:
        # The open shard's thread: ``shards`` counts those closed before it.
        self._in_flight.append(self._threads[len(self.shards) % self.THREADS].submit(work, *args))
        while len(self._in_flight) > self.IN_FLIGHT:
            self._in_flight.popleft().result()

    def _write(self, rows: int) -> None:
        buffered = pa.concat_tables(self.pending) if len(self.pending) > 1 else self.pending[0]
        group, rest = buffered.slice(0, rows), buffered.slice(rows)
        self.pending, self.pending_rows = ([rest] if rest.num_rows else []), rest.num_rows
        if self._writer is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._path = self.folder / f"{self.split}-{len(self.shards):05d}.parquet"
            self._writer = pq.ParquetWriter(self._path, SCHEMA, compression="zstd", write_statistics=True,
                                            use_dictionary=DICTIONARY)
        self._submit(_write_group, self._writer, group, self.row_group_rows)
        self._rows_in_shard += rows
        if self._rows_in_shard >= self.rows_per_shard:
            self._close_shard()

    def _close_shard(self) -> None:
        if self._writer is None:
            return
        self._submit(self._writer.close)
        self.shards.append({"path": self._path, "rows": self._rows_in_shard})
        self._writer, self._path, self._rows_in_shard = None, None, 0


def _write_group(writer: pq.ParquetWriter, group: pa.Table, row_group_rows: int) -> None:
    # One chunk per column: the bytes then never depend on how the rows arrived in batches.
    writer.write_table(group.combine_chunks(), row_group_size=row_group_rows)
