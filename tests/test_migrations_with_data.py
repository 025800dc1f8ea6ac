"""Migrations that change data, run on a fresh PostgreSQL database holding rows from before them.

A fresh database per run, not the test database: going back and forth in
migrations there would disturb every other test.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def migrated(script: str):
    """Run ``tests/migrations_data/<script>`` on a fresh database; what it printed last, as JSON."""
    name = f"occiportal_migrations_{os.environ.get('OCCIPORTAL_TEST_SLOT', '0')}"
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    try:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "occiportal.settings",
               "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{name}"}  # fmt: skip
        code = (ROOT / "tests" / "migrations_data" / script).read_text()
        done = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        with psycopg.connect(SERVER, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_withdrawals_made_before_the_counters_are_counted_by_the_migration():
    assert migrated("withdrawn_backfill.py") == [2, 30, True, True]


def test_ids_meta_and_problem_lines_stored_before_they_were_redacted_are_redacted_by_the_migration():
    external_id, origin, meta, record_found, submission_found, errors, stats = migrated("redact_stored.py")

    assert (external_id, origin) == ("<EMAIL>", "<EMAIL>:1")
    assert meta == {"phone": "<PHONE>", "contacts": [{"iban": "<IBAN>"}], "pages": 3}
    assert (record_found, submission_found) == (1 + 4, 1 + 4)  # the id, the member, a phone and an IBAN
    redacted = {"line": 2, "message": "field 'role' is '<EMAIL>'", "template": "field 'role' is %(role)s",
                "params": {"role": "'<EMAIL>'"}, "file": "<EMAIL>"}  # fmt: skip
    assert errors == [redacted] and stats == {"errors": [redacted]}


def test_stored_bands_move_to_the_signature_store_and_the_band_index_by_the_migration():
    lines, same_bands, indexed, unversioned_keys, table_gone = migrated("bands_to_signatures.py")

    assert lines == [1, 2] and same_bands and indexed
    assert unversioned_keys == 14  # a record banded before schemes were named: kept apart, for records_reband
    assert table_gone


def test_pretraining_text_stored_in_rows_moves_into_the_chunk_files_once():
    moved = migrated("text_to_parquet.py")

    assert moved["said"] == ["Moved the text of 5 record(s) into the record files.",
                             "Moved the text of 0 record(s) into the record files."]  # fmt: skip
    assert moved["files"] == {"0": [1, 2], "1": [4, 5]}  # the withdrawn line 3 is dropped, not moved
    assert moved["contents"] == [{}] * 5
    assert moved["words"] == [9, 10, 11, 12, 13]  # the JSON quality's filtered signals, typed
    assert moved["hash"] == f"{1:032x}" and moved["signals"] == 2


def test_a_submission_takes_its_records_band_scheme_where_they_all_share_one():
    schemes, record_columns = migrated("band_scheme_to_submissions.py")

    assert schemes == ["new", "", "", ""]  # mixed or unnamed schemes: records_reband re-bands the submission
    assert record_columns == 0


def test_preference_records_marked_near_duplicates_before_are_unmarked_by_the_migration():
    assert migrated("preference_marks.py") == {"preference": [0, 0], "instruction": [2, 2]}
