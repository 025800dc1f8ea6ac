"""Run by tests/test_migrations_with_data.py in ``manage.py shell``: migrate a database holding pretraining
records with their text and JSON quality in PostgreSQL through annotation 0013, run records_to_parquet twice,
and print what the rows, the chunk files and the command say."""

import io
import json
import tempfile

from django.conf import settings
from django.core.management import call_command

from tests.migrations_data.history import migrate_back, migrate_forward, pretraining_submission

settings.MEDIA_ROOT = tempfile.mkdtemp()  # before the storage is first used

apps = migrate_back([("annotation", "0011_band_scheme"), ("training", "0005_snapshot_hub_push"),
                     ("occiportal", "0002_seed_eu_languages")])

IngestChunk = apps.get_model("annotation", "IngestChunk")
Record = apps.get_model("annotation", "Record")

submission = pretraining_submission(apps)
for index, first_line in enumerate([1, 4]):
    IngestChunk.objects.create(submission=submission, index=index, path="a.jsonl", start=0, end=1,
                               first_line=first_line, status="done")
for line, status in enumerate(["pending", "accepted", "withdrawn", "pending", "rejected"], 1):
    Record.objects.create(submission=submission, line=line, language_id=submission.language_id, kind="pretraining",
                          content={"text": f"Das ist der Satz Nummer {line}. Und noch einer."},
                          content_hash=f"{line:032x}", status=status, tokens=10 * line,
                          quality={"words": 8 + line, "mean_word_length": 3.5, "stop_words": None})

migrate_forward()

from annotation.corpus import record_files  # noqa: E402  (after the migrations: the models as they are now)
from annotation.models import IngestChunk as Chunk, Record as Current  # noqa: E402
from django.core.files.storage import default_storage  # noqa: E402

said = []
for _run in range(2):
    out = io.StringIO()
    call_command("records_to_parquet", "--batch-size", "2", stdout=out)
    said.append(out.getvalue().strip())
files = {c.index: sorted(record_files.texts(default_storage, c.records_file)) for c in Chunk.objects.order_by("index")}
rows = Current.objects.order_by("line")
print(json.dumps({
    "said": said,
    "files": files,
    "contents": [r.content for r in rows],
    "words": [r.quality_words for r in rows],
    "hash": rows[0].content_hash.hex,
    "signals": record_files.read(default_storage, Chunk.objects.get(index=0).records_file, ["words"]).num_rows,
}))
