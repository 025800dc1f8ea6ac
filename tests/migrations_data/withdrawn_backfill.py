"""Run by tests/test_migrations_with_data.py in ``manage.py shell``: migrate a database holding withdrawals
made before the counters existed, through annotation 0006/0007, and print what the counters say."""

import json
import uuid

from django.db import connection
from django.db.migrations.executor import MigrationExecutor

before = [("annotation", "0005_upload"), ("training", "0005_snapshot_hub_push"), ("occiportal", "0002_seed_eu_languages")]
executor = MigrationExecutor(connection)
executor.migrate(before)
apps = executor.loader.project_state(before).apps

User = apps.get_model("auth", "User")
Partner = apps.get_model("occiportal", "Partner")
Language = apps.get_model("occiportal", "Language")
Submission = apps.get_model("annotation", "Submission")
Record = apps.get_model("annotation", "Record")
Withdrawal = apps.get_model("training", "Withdrawal")

user = User.objects.create(username="anna")
partner = Partner.objects.create(slug="alpha", name="Alpha")
submission = Submission.objects.create(
    uuid=uuid.uuid4(), partner=partner, uploader=user, language=Language.objects.get(code="de"),
    kind="pretraining", license="CC-BY-4.0", source="s", consent=True, original_name="a.jsonl", status="ready",
)
for line, status in enumerate(["withdrawn", "withdrawn", "pending"], 1):
    Record.objects.create(submission=submission, line=line, language_id=submission.language_id, kind="pretraining",
                          content={"text": str(line)}, content_hash=f"{line:032x}", status=status, tokens=10 * line)
Withdrawal.objects.create(submission=submission, partner=partner, requested_by=user, reason="")

executor = MigrationExecutor(connection)
executor.migrate(executor.loader.graph.leaf_nodes())
with connection.cursor() as cursor:
    cursor.execute("SELECT withdrawn_records, withdrawn_tokens, withdrawn_by_id = %s, withdrawn_at IS NOT NULL"
                   " FROM annotation_submission", [user.pk])
    print(json.dumps(cursor.fetchone()))
