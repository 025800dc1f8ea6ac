"""Every upload, plain or archived, is bound by the expansion limits (size and ratio)."""

import io
import tracemalloc

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

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
    """The most memory Python and Arrow held at once while the test ran (bytes)."""
    previous = pa.default_memory_pool()
    pool = pa.proxy_memory_pool(previous)
    _POOLS_KEPT.append(pool)
    pa.set_memory_pool(pool)
    tracemalloc.start()
    try:
        yield lambda: tracemalloc.get_traced_memory()[1] + pool.max_memory()
    finally:
        tracemalloc.stop()
        pa.set_memory_pool(previous)


# zstd: a 556-byte file, refused by its metadata (2 MB of pages against a
# 111 kB budget). Uncompressed: a 2 MB file whose pages fit its 400 MB
# budget, refused by the bytes its rows stand for, before they are built.
@pytest.mark.parametrize("compression", ["zstd", "none"])
@pytest.mark.parametrize("bomb,kind", [(parquet_bomb, "pretraining"), (conversation_bomb, "conversation")])
def test_a_parquet_dictionary_bomb_is_refused_in_bounded_memory(submit_de, peak_memory, compression, bomb, kind):
    content = bomb(compression=compression)
    limit = len(content) * 200
    submission = submit_de(content, "bomb.parquet", kind=kind)
    assert failed_with(submission, "bomb.parquet expands past", f"{limit:,} bytes", "archive bomb")
    assert peak_memory() < 64 * 1024**2


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


def test_a_plain_file_past_the_expanded_size_limit_is_refused(submit_de, settings):
    settings.INGEST = {**settings.INGEST, "MAX_EXPANDED_BYTES": 1_000}
    content = jsonl({"text": t} for t in documents(5))
    assert failed_with(submit_de(content, "docs.jsonl"), "docs.jsonl expands past 1,000 bytes")
