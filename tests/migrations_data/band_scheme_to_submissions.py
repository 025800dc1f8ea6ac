"""Run by tests/test_migrations_with_data.py in ``manage.py shell``: migrate a database holding records
with their own band scheme through annotation 0017, and print the schemes their submissions took."""

import json
import uuid

from django.db import connection

from tests.migrations_data.history import migrate_back, migrate_forward

apps = migrate_back([("annotation", "0015_preference_kind")])

Partner = apps.get_model("occiportal", "Partner")
Language = apps.get_model("occiportal", "Language")
Submission = apps.get_model("annotation", "Submission")
Record = apps.get_model("annotation", "Record")

partner = Partner.objects.create(slug="alpha", name="Alpha")
line = 0


def submission_with(*schemes):
    global line
    submission = Submission.objects.create(
        uuid=uuid.uuid4(), partner=partner, language=Language.objects.get(code="de"), kind="pretraining",
        license="CC-BY-4.0", source="s", consent=True, original_name="a.jsonl", status="ready",
    )
    for scheme in schemes:
        line += 1
        Record.objects.create(submission=submission, line=line, language_id=submission.language_id, kind="pretraining",
                              content={}, content_hash=f"{line:032x}", band_scheme=scheme)
    return submission.pk


made = [submission_with("new", "new"), submission_with("old", "new"), submission_with("", ""), submission_with()]
migrate_forward()
with connection.cursor() as cursor:
    cursor.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 'annotation_record' "
                   "AND column_name = 'band_scheme'")
    column_left = cursor.fetchone()[0]
    cursor.execute("SELECT id, band_scheme FROM annotation_submission")
    schemes = dict(cursor.fetchall())
print(json.dumps([[schemes[pk] for pk in made], column_left]))
