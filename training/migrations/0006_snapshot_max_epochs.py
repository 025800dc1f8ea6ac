"""Snapshots defined before the repetition cap get the default one, so an unbuilt one still builds.

Ready snapshots keep the parameters their manifest records: they are never rebuilt.
"""

from django.db import migrations

MAX_EPOCHS = 4  # training.snapshots.params.MAX_EPOCHS when this was written


def max_epochs_fill(apps, schema_editor):
    Snapshot = apps.get_model("training", "Snapshot")
    for snapshot in Snapshot.objects.exclude(status="ready").exclude(parameters__has_key="max_epochs"):
        snapshot.parameters["max_epochs"] = MAX_EPOCHS
        snapshot.save(update_fields=["parameters"])


class Migration(migrations.Migration):

    dependencies = [
        ("training", "0005_snapshot_hub_push"),
    ]

    operations = [
        migrations.RunPython(max_epochs_fill, migrations.RunPython.noop),
    ]
