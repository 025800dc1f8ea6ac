"""Test settings: the production targets, PostgreSQL and Redis, on this machine.

``OCCIPORTAL_TEST_SLOT`` (0–7) gives parallel test sessions their own
database and Redis database, so they never consume each other's tasks.
"""

import os
import tempfile

_slot = int(os.environ.get("OCCIPORTAL_TEST_SLOT", "0"))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/occiportal")
os.environ.setdefault("OCCIPORTAL_TEST_DB_NAME", f"test_occiportal_{_slot}")
os.environ.setdefault("CELERY_BROKER_URL", f"redis://127.0.0.1:6379/{8 + _slot}")
os.environ.setdefault("OCCIPORTAL_DATA_DIR", tempfile.mkdtemp(prefix="occiportal-test-"))

from occiportal.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
INGEST = {**INGEST, "CHUNK_BYTES": 64 * 1024, "MIN_CHUNK_BYTES": 64 * 1024, "BATCH_RECORDS": 500}  # noqa: F405
