"""Parquet shards per language and split, byte-identical for identical input.

One fixed schema for every kind (unused columns are null), so
``datasets.load_dataset("parquet", data_dir=…)`` joins all shards. Row
groups have a fixed size and nothing time-dependent goes into the file
metadata, so the same rows give the same bytes. A writer holds at most one
row group in memory.
"""

from __future__ import annotations

import hashlib
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
        ("tokens", pa.int64()),
    ]
)


def row_for(record: dict, language: str) -> dict:
    """A streamed record as a shard row; content columns it lacks are read as null."""
    return {
        **record["content"],
        "record_id": record["id"],
        "submission_id": record["submission_id"],
        "kind": record["kind"],
        "language": language,
        "tokens": record["tokens"],
    }


class ShardWriter:
    """Writes ``<root>/<language>/<split>-NNNNN.parquet``, rolling over every ``rows_per_shard`` rows."""

    def __init__(self, root: Path, language: str, split: str, *, rows_per_shard: int, row_group_rows: int):
        self.folder = Path(root) / language
        self.split = split
        self.rows_per_shard = rows_per_shard
        self.row_group_rows = min(row_group_rows, rows_per_shard)
        self.buffer: list[dict] = []
        self.shards: list[dict] = []  # {"path", "rows"} of closed shards
        self._writer: pq.ParquetWriter | None = None
        self._path: Path | None = None
        self._rows_in_shard = 0

    def add(self, row: dict, copies: int = 1) -> None:
        for _ in range(copies):
            self.buffer.append(row)
            if len(self.buffer) >= self.row_group_rows or self._rows_in_shard + len(self.buffer) >= self.rows_per_shard:
                self._flush()

    def close(self) -> list[dict]:
        self._flush()
        self._close_shard()
        return self.shards

    def _flush(self) -> None:
        if not self.buffer:
            return
        if self._writer is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._path = self.folder / f"{self.split}-{len(self.shards):05d}.parquet"
            self._writer = pq.ParquetWriter(self._path, SCHEMA, compression="zstd", write_statistics=True)
        # Columns by comprehension: far cheaper than Table.from_pylist on dicts.
        columns = {name: [row.get(name) for row in self.buffer] for name in SCHEMA.names}
        self._writer.write_table(pa.Table.from_pydict(columns, schema=SCHEMA), row_group_size=self.row_group_rows)
        self._rows_in_shard += len(self.buffer)
        self.buffer = []
        if self._rows_in_shard >= self.rows_per_shard:
            self._close_shard()

    def _close_shard(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        self.shards.append({"path": self._path, "rows": self._rows_in_shard})
        self._writer, self._path, self._rows_in_shard = None, None, 0


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
