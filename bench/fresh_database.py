"""A fresh, migrated PostgreSQL database for one benchmark, and Django set up on it."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def database_url(name: str, *, smoke: bool = False) -> str:
    """The URL of benchmark database ``name``; a smoke run's is ``name_smoke``.

    Smoke runs take their own database, so CI's smoke run does not drop
    the one a full run (or its ``--reuse``) is working on.
    """
    return f"postgres://postgres@127.0.0.1:5432/{name}{'_smoke' if smoke else ''}"


def fresh_database(name: str, *, smoke: bool = False) -> str:
    """Drop and re-create benchmark database ``name`` (see ``database_url``), migrated; return its URL.

    Where ``OCCIPORTAL_BENCH_TEMPLATE`` names a database migrated earlier in
    the same run (bin/bench-smoke makes one), it is copied instead: well
    under a second, where migrating takes several.
    """
    import psycopg

    url = database_url(name, smoke=smoke)
    name = url.rsplit("/", 1)[1]
    template = os.environ.get("OCCIPORTAL_BENCH_TEMPLATE")
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    if not template:
        env = {**os.environ, "DATABASE_URL": url}
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    return url


def django_setup(database_url: str) -> None:
    """Set Django up in this process on ``database_url``, importing the portal from this checkout."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "occiportal.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
