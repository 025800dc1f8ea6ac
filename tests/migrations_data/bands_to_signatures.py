"""Run by tests/test_migrations_with_data.py in ``manage.py shell``: migrate a database holding RecordBand
rows through annotation 0012, and print what the signature store and the band index hold."""

import json
import tempfile
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import connection

from annotation.dedup.index import band_keys, owner_keys
from annotation.ingest.minhash import BAND_SCHEME
from tests.migrations_data.history import migrate_back, migrate_forward, pretraining_submission

folder = Path(tempfile.mkdtemp())
settings.MEDIA_ROOT, settings.NEAR_DUPLICATE_INDEX_DIR = folder / "media", folder / "index"

apps = migrate_back([("annotation", "0011_band_scheme")])

Record = apps.get_model("annotation", "Record")
RecordBand = apps.get_model("annotation", "RecordBand")

submission = pretraining_submission(apps)
bands = {1: list(range(10, 24)), 2: list(range(100, 114)), 3: list(range(200, 214))}
for line, row in bands.items():
    record = Record.objects.create(
        submission=submission, line=line, language_id=submission.language_id, kind="pretraining",
        content={"text": str(line)}, content_hash=f"{line:032x}", band_scheme="" if line == 3 else BAND_SCHEME,
    )
    RecordBand.objects.bulk_create([RecordBand(record=record, band=b, hash=h) for b, h in enumerate(row)])

migrate_forward()

from annotation.dedup.signatures import signatures_decode  # noqa: E402
from annotation.services.signatures import band_index  # noqa: E402

stored = (settings.MEDIA_ROOT / f"signatures/{BAND_SCHEME}/{submission.pk}/legacy.parquet").read_bytes()
lines, matrix = signatures_decode(stored)
keys = band_keys(np.array([bands[2]], dtype=np.int64))
found = band_index().first_owners(keys) == owner_keys(submission.pk, np.array([2]))
unversioned = band_index("unversioned").first_owners(band_keys(np.array([bands[3]], dtype=np.int64)))
with connection.cursor() as cursor:
    cursor.execute("SELECT to_regclass('annotation_recordband') IS NULL")
    gone = cursor.fetchone()[0]
print(json.dumps([lines.tolist(), matrix.tolist() == [bands[1], bands[2]], bool(found.all()),
                  (unversioned >> np.uint64(32) == submission.pk).tolist().count(True), gone]))
