"""Run by tests/test_migrations_with_data.py in ``manage.py shell``: migrate a database holding withdrawals
made before the counters existed, through annotation 0006/0007, and print what the counters say."""

import json

from django.db import connection

from tests.migrations_data.history import migrate_back, migrate_forward, pretraining_submission

apps = migrate_back([("annotation", "0005_upload"), ("training", "0005_snapshot_hub_push"),
                     ("occiportal", "0002_seed_eu_languages")])

Record = apps.get_model("annotation", "Record")
Withdrawal = apps.get_model("training", "Withdrawal")

submission = pretraining_submission(apps)
for line, status in enumerate(["withdrawn", "withdrawn", "pending"], 1):
    Record.objects.create(submission=submission, line=line, language_id=submission.language_id, kind="pretraining",
                          content={"text": str(line)}, content_hash=f"{line:032x}", status=status, tokens=10 * line)
Withdrawal.objects.create(submission=submission, partner=submission.partner, requested_by=submission.uploader,
                          reason="")

migrate_forward()
with connection.cursor() as cursor:
    cursor.execute("SELECT withdrawn_records, withdrawn_tokens, withdrawn_by_id = %s, withdrawn_at IS NOT NULL"
                   " FROM annotation_submission", [submission.uploader_id])
    print(json.dumps(cursor.fetchone()))
