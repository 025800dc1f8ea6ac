"""Preference records are no longer marked near-duplicates (docs/near-duplicates.md): clear the old marks and figures."""

from django.db import migrations


def clear_preference_marks(apps, schema_editor):
    Record = apps.get_model("annotation", "Record")
    Submission = apps.get_model("annotation", "Submission")
    Record.objects.filter(kind="preference", near_duplicate_of__isnull=False).update(near_duplicate_of=None)
    Submission.objects.filter(kind="preference").exclude(near_duplicates=0).update(near_duplicates=0)


class Migration(migrations.Migration):

    dependencies = [
        ("annotation", "0018_reviewqueue_argilla_push_unsent"),
    ]

    operations = [
        migrations.RunPython(clear_preference_marks, migrations.RunPython.noop),
    ]
