"""Bulk writes of checked records.

On PostgreSQL rows go through COPY into a temporary staging table, then one
``INSERT … ON CONFLICT DO NOTHING RETURNING``: the unique keys
``(submission, line)`` and ``content_hash`` decide what is new, and no model
instances are built. Other databases (the SQLite default) use
``bulk_create``.
"""

from django.db import connection
from django.utils import timezone
from psycopg.types.json import Jsonb

from annotation.ingest.quality import FILTERED_SIGNALS
from annotation.models import Record

COLUMNS = (
    "submission_id", "line", "origin", "language_id", "kind", "content", "external_id", "meta",
    "content_hash", "status", "detected_language", "language_score", "language_mismatch",
    "pii_redactions", "tokens", *(f"quality_{name}" for name in FILTERED_SIGNALS), "redactions", "created_at",
)
JSON_COLUMNS = {"content", "meta", "redactions"}

_STAGE = """
CREATE TEMPORARY TABLE IF NOT EXISTS ingest_record_stage (
    submission_id bigint, line bigint, origin varchar(300), language_id bigint, kind varchar(16),
    content jsonb, external_id varchar(200), meta jsonb, content_hash uuid, status varchar(16),
    detected_language varchar(35), language_score double precision, language_mismatch boolean,
    pii_redactions integer, tokens integer, quality_words integer, quality_mean_word_length double precision,
    quality_symbol_word_ratio double precision, quality_duplicate_line_fraction double precision,
    quality_stop_words integer, quality_digit_ratio double precision, redactions jsonb, created_at timestamptz
) ON COMMIT DELETE ROWS
"""


def records_insert(rows: list[dict]) -> dict[int, int]:
    """Insert rows (dicts of COLUMNS minus ``created_at``) not stored yet.

    Their bands, of minhash.BAND_SCHEME, go to the signature store (services/signatures.py).
    Returns ``{line: id}`` for the rows inserted now. Call inside a transaction.
    """
    if not rows:
        return {}
    now = timezone.now()
    if connection.vendor == "postgresql":
        # The commit need not wait for the WAL flush: the chunk is marked done
        # later in a synchronous commit, which flushes these first (the WAL is
        # written in order), and a chunk not marked done is processed again.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        return _copy_records(rows, now)
    return _bulk_create_records(rows, now)


def _copy_records(rows, now) -> dict[int, int]:
    columns = ", ".join(COLUMNS)
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor, for COPY
        raw.execute(_STAGE)
        with raw.copy(f"COPY ingest_record_stage ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([_value(row, c, now) for c in COLUMNS])
        raw.execute(
            f"INSERT INTO annotation_record ({columns}) SELECT {columns} FROM ingest_record_stage "
            "ON CONFLICT DO NOTHING RETURNING line, id"
        )
        inserted = dict(raw.fetchall())
        raw.execute("TRUNCATE ingest_record_stage")
    return inserted


def _value(row: dict, column: str, now):
    if column == "created_at":
        return now
    if column in JSON_COLUMNS:
        return None if row[column] is None else Jsonb(row[column])
    return row[column]


def _bulk_create_records(rows, now) -> dict[int, int]:
    lines = [row["line"] for row in rows]
    submission_id = rows[0]["submission_id"]
    before = set(Record.objects.filter(submission_id=submission_id, line__in=lines).values_list("line", flat=True))
    Record.objects.bulk_create(
        [Record(**row, created_at=now) for row in rows], ignore_conflicts=True, batch_size=1000
    )
    stored = dict(Record.objects.filter(submission_id=submission_id, line__in=lines).values_list("line", "id"))
    return {line: i for line, i in stored.items() if line not in before}
