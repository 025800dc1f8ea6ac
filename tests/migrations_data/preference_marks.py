"""Run by tests/test_migrations_with_data.py in ``manage.py shell``: migrate a database whose preference
records were marked near-duplicates of each other through annotation 0019, and print the marks and figures left."""

import json
import uuid

from django.db import connection

from tests.migrations_data.history import migrate_back, migrate_forward

apps = migrate_back([("annotation", "0018_reviewqueue_argilla_push_unsent")])

Partner = apps.get_model("occiportal", "Partner")
Language = apps.get_model("occiportal", "Language")
Submission = apps.get_model("annotation", "Submission")
Record = apps.get_model("annotation", "Record")

partner = Partner.objects.create(slug="alpha", name="Alpha")
made = {}
for n, kind in enumerate(["preference", "instruction"]):
    submission = Submission.objects.create(
        uuid=uuid.uuid4(), partner=partner, language=Language.objects.get(code="de"), kind=kind,
        license="CC-BY-4.0", source="s", consent=True, original_name="a.jsonl", status="ready", near_duplicates=2,
    )
    first = None
    for line in (1, 2, 3):
        first = Record.objects.create(submission=submission, line=line, language_id=submission.language_id, kind=kind,
                                      content={}, content_hash=f"{10 * n + line:032x}", near_duplicate_of=first)
    made[kind] = submission.pk

migrate_forward()
with connection.cursor() as cursor:
    cursor.execute("SELECT submission_id, count(near_duplicate_of_id) FROM annotation_record GROUP BY submission_id")
    marks = dict(cursor.fetchall())
    cursor.execute("SELECT id, near_duplicates FROM annotation_submission")
    figures = dict(cursor.fetchall())
print(json.dumps({kind: [marks[pk], figures[pk]] for kind, pk in made.items()}))
