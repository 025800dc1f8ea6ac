# An edit's link to the record it corrects moves from the review answer
# (Annotation.edit_record, gone when its queue is deleted) to the record
# itself, and is filled from the answers that exist.

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def edit_of_fill(apps, schema_editor):
    """Set ``edit_of`` on every edit record from the review answer that made it; one UPDATE."""
    Annotation = apps.get_model("annotation", "Annotation")
    Record = apps.get_model("annotation", "Record")
    made_by = Annotation.objects.filter(edit_record=OuterRef("pk")).values("record_id")[:1]
    Record.objects.filter(edit_source__isnull=False, edit_of__isnull=True).update(edit_of=Subquery(made_by))


class Migration(migrations.Migration):

    dependencies = [
        ('annotation', '0003_record_pending_queue_order'),
    ]

    operations = [
        migrations.AddField(
            model_name='record',
            name='edit_of',
            field=models.ForeignKey(blank=True, db_index=False, help_text="The record this one corrects, for a reviewer's edit.", null=True, on_delete=django.db.models.deletion.PROTECT, related_name='edits', to='annotation.record'),
        ),
        migrations.AddIndex(
            model_name='record',
            index=models.Index(condition=models.Q(('edit_of__isnull', False)), fields=['edit_of'], name='record_edit_of'),
        ),
        migrations.RunPython(edit_of_fill, migrations.RunPython.noop),
    ]
