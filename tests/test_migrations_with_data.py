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


def test_withdrawals_made_before_the_counters_are_counted_by_the_migration():
    name = f"occiportal_migrations_{os.environ.get('OCCIPORTAL_TEST_SLOT', '0')}"
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    try:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "occiportal.settings",
               "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{name}"}  # fmt: skip
        script = (ROOT / "tests" / "migrations_data" / "withdrawn_backfill.py").read_text()
        done = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert json.loads(done.stdout.strip().splitlines()[-1]) == [2, 30, True, True]
    finally:
        with psycopg.connect(SERVER, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
