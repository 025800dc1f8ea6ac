"""Every upload, plain or archived, is bound by the expansion limits (size and ratio)."""

import io
import tracemalloc

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from annotation.ingest.containers import Budget, Limits, Member
from annotation.ingest.parquet import parquet_items
from annotation.models import Submission

from .ingest_helpers import jsonl, zipped
from .test_ingest_bad_input import failed_with
from .texts import documents

TWO_MB = 2 * 1024 * 1024


def two_mb_600_times() -> pa.DictionaryArray:
    """One 2 MB string standing for 600 values (1.2 GiB decoded), stored once."""
    return pa.DictionaryArray.from_arrays(pa.array([0] * 600, pa.int32()), pa.array(["x" * TWO_MB]))


def parquet_bytes(table: pa.Table, compression: str) -> bytes:
    # Without the Arrow schema, as other writers leave it: the reader then
    # decodes the column to plain strings unless told otherwise.
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression=compression, store_schema=False)
    return buffer.getvalue()


def parquet_bomb(*, compression: str) -> bytes:
    return parquet_bytes(pa.table({"text": two_mb_600_times()}), compression)


def conversation_bomb(*, compression: str) -> bytes:
    """One row whose conversation repeats the 2 MB string 600 times."""
    turns = pa.StructArray.from_arrays([pa.array(["user"] * 600), two_mb_600_times()], names=["role", "content"])
    return parquet_bytes(pa.table({"messages": pa.ListArray.from_arrays(pa.array([0, 600], pa.int32()), turns)}), compression)


# Arrow buffers point at the pool that allocated them: a proxy pool freed
# while one of its buffers lives on would crash the process later.
_POOLS_KEPT = []


@pytest.fixture
def peak_memory():
    """``measure(run)``: what ``run()`` returns, and the most memory Python and Arrow held at once meanwhile (bytes)."""

    def measure(run):
        previous = pa.default_memory_pool()
        pool = pa.proxy_memory_pool(previous)
        _POOLS_KEPT.append(pool)
        pa.set_memory_pool(pool)
        tracemalloc.start()
        try:
            return run(), tracemalloc.get_traced_memory()[1] + pool.max_memory()
        finally:
            tracemalloc.stop()
            pa.set_memory_pool(previous)

    return measure


# zstd: a few hundred bytes, refused before reading (its 2 MB dictionary
# page against a budget of 200 times the file). Uncompressed: a 2 MB file
# whose pages fit its 400 MB budget, read as a dictionary and refused by the
# bytes its rows stand for, before they are built.
@pytest.mark.parametrize("compression", ["zstd", "none"])
@pytest.mark.parametrize("bomb,kind", [(parquet_bomb, "pretraining"), (conversation_bomb, "conversation")])
def test_a_parquet_dictionary_bomb_is_refused_in_bounded_memory(submit_de, peak_memory, compression, bomb, kind):
    content = bomb(compression=compression)
    limit = len(content) * 200
    submission, peak = peak_memory(lambda: submit_de(content, "bomb.parquet", kind=kind))
    assert failed_with(submission, "bomb.parquet expands past", f"{limit:,} bytes", "archive bomb")
    assert peak < 64 * 1024**2


def test_a_parquet_bomb_in_an_archive_is_named_with_its_member(submit_de):
    assert failed_with(submit_de(zipped({"part.parquet": parquet_bomb(compression="zstd")}), "data.zip"),
                       "data.zip/part.parquet expands past")


def test_a_parquet_row_past_the_record_limit_is_one_error_never_built(submit_de, settings):
    settings.INGEST = {**settings.INGEST, "MAX_RECORD_BYTES": 10_000}
    texts = documents(3)
    buffer = io.BytesIO()
    pq.write_table(pa.table({"text": [texts[0], "Ein Satz. " * 2_000, texts[1], texts[2]]}), buffer)
    submission = submit_de(buffer.getvalue(), "docs.parquet")
    assert submission.status == Submission.Status.READY, submission.failure
    assert (submission.records_accepted, submission.records_rejected) == (3, 1)
    assert submission.errors[0]["line"] == 2 and "10,000-byte limit" in submission.errors[0]["message"]


def test_a_column_of_twenty_million_nulls_is_refused_before_it_is_read(submit_de, peak_memory):
    # Its definition levels are runs: 50 kB stand for 160 MB of values.
    buffer = io.BytesIO()
    pq.write_table(pa.table({"text": pa.nulls(20_000_000, pa.int64())}), buffer, compression="zstd")
    submission, peak = peak_memory(lambda: submit_de(buffer.getvalue(), "nulls.parquet"))
    assert failed_with(submission, "nulls.parquet expands past")
    assert peak < 16 * 1024**2


def test_a_plain_file_past_the_expanded_size_limit_is_refused(submit_de, settings):
    settings.INGEST = {**settings.INGEST, "MAX_EXPANDED_BYTES": 1_000}
    content = jsonl({"text": t} for t in documents(5))
    assert failed_with(submit_de(content, "docs.jsonl"), "docs.jsonl expands past 1,000 bytes")


def mixed_table(rows: int = 600) -> pa.Table:
    texts = documents(20)
    return pa.table({
        "text": [texts[i % 20] if i % 7 else None for i in range(rows)],
        "id": list(range(rows)),
        "fixed": pa.array([bytes([i % 256]) * 4 for i in range(rows)], pa.binary(4)),
        "messages": [[{"role": "user", "content": texts[i % 5]}] * (i % 3) for i in range(rows)],
    })  # fmt: skip


@pytest.mark.parametrize("options", [
    {"compression": "snappy"}, {"compression": "gzip"}, {"compression": "brotli"}, {"compression": "lz4"},
    {"compression": "none"}, {"data_page_version": "2.0"}, {"write_page_index": True, "write_page_checksum": True},
    {"use_dictionary": False}, {"dictionary_pagesize_limit": 512, "data_page_size": 1024, "row_group_size": 100},
    {"use_dictionary": False, "column_encoding": {"text": "DELTA_BYTE_ARRAY", "id": "DELTA_BINARY_PACKED"}},
], ids=lambda options: ",".join(map(str, options.values())))  # fmt: skip
def test_the_page_headers_are_read_whatever_the_writer_chose(options):
    buffer = io.BytesIO()
    pq.write_table(mixed_table(), buffer, store_schema=False, **options)
    data = buffer.getvalue()
    budget = Budget(Limits(max_expanded_bytes=10**9, max_ratio=200, max_members=1), "mixed.parquet", len(data))
    items = list(parquet_items(Member("", "parquet", io.BytesIO(data), budget), 10**6))
    assert [item.data for item in items] == pq.read_table(io.BytesIO(data)).to_pylist()
    assert budget.used > 0
