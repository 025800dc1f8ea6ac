"""Run by tests/test_migrations_with_data.py in ``manage.py shell``: migrate a database holding records and
problem lines stored before ids, meta and member names were redacted, through annotation 0009, and print them."""

import json
import uuid

from django.db import connection

from tests.migrations_data.history import migrate_back, migrate_forward

apps = migrate_back([("annotation", "0008_submission_failure_message"), ("occiportal", "0002_seed_eu_languages")])

Partner = apps.get_model("occiportal", "Partner")
Language = apps.get_model("occiportal", "Language")
Submission = apps.get_model("annotation", "Submission")
Record = apps.get_model("annotation", "Record")
IngestChunk = apps.get_model("annotation", "IngestChunk")

error = {"line": 2, "message": "field 'role' is 'anna@firma.de'", "template": "field 'role' is %(role)s",
         "params": {"role": "'anna@firma.de'"}, "file": "anna@firma.de.jsonl"}
submission = Submission.objects.create(
    uuid=uuid.uuid4(), partner=Partner.objects.create(slug="alpha", name="Alpha"), language=Language.objects.get(code="de"),
    kind="pretraining", license="CC-BY-4.0", source="s", consent=True, original_name="a.zip", status="ready",
    pii_redactions=1, errors=[error],
)
IngestChunk.objects.create(submission=submission, index=0, path="p", start=0, end=1, first_line=1, stats={"errors": [error]})
Record.objects.create(
    submission=submission, line=1, language_id=submission.language_id, kind="pretraining", content={"text": "<EMAIL>"},
    content_hash=f"{1:032x}", pii_redactions=1, external_id="kontakt-anna@firma.de", origin="anna@firma.de.txt:1",
    meta={"phone": "+49 40 5550123", "contacts": [{"iban": "DE89 3704 0044 0532 0130 00"}], "pages": 3},
)

migrate_forward()
with connection.cursor() as cursor:
    cursor.execute("SELECT r.external_id, r.origin, r.meta, r.pii_redactions, s.pii_redactions, s.errors, c.stats"
                   " FROM annotation_record r JOIN annotation_submission s ON s.id = r.submission_id"
                   " JOIN annotation_ingestchunk c ON c.submission_id = s.id")
    row = cursor.fetchone()
print(json.dumps([json.loads(value) if index in (2, 5, 6) else value for index, value in enumerate(row)]))
