# The counters' backfill, in a migration of its own: on PostgreSQL, filling
# withdrawn_by leaves deferred foreign-key events that the index creation of
# 0006 would refuse within the same transaction.

from django.db import migrations
from django.db.models import Count, Sum


def backfill(apps, schema_editor):
    """Withdrawals made before the counters existed: count their records, and date the whole ones."""
    Submission = apps.get_model("annotation", "Submission")
    Record = apps.get_model("annotation", "Record")
    Withdrawal = apps.get_model("training", "Withdrawal")
    withdrawn = (
        Record.objects.filter(status="withdrawn").order_by().values("submission_id")
        .annotate(records=Count("id"), tokens=Sum("tokens"))
    )
    for row in withdrawn.iterator():
        Submission.objects.filter(pk=row["submission_id"]).update(
            withdrawn_records=row["records"], withdrawn_tokens=row["tokens"] or 0
        )
    for whole in Withdrawal.objects.filter(record__isnull=True).order_by("-created_at").iterator():
        # The earliest wins: later duplicates came from the double-submit bug.
        Submission.objects.filter(pk=whole.submission_id).update(
            withdrawn_at=whole.created_at, withdrawn_by_id=whole.requested_by_id
        )



class Migration(migrations.Migration):

    dependencies = [
        ("annotation", "0006_submission_withdrawn"),
        ("training", "0001_initial"),  # the backfill reads the withdrawal rows (training.Withdrawal)
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
