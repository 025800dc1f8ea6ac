"""Slimmer record rows and indexes, without rewriting the table.

The band scheme moves from each record to its submission (29 bytes a row).
Dropping the column rewrites nothing: PostgreSQL marks it dropped, and
existing rows give its bytes back when the table is next rewritten (e.g.
VACUUM FULL, pg_repack); rows written from now on never hold them.

Pending pretraining records get an index of their own without the kind (32
bytes an entry, not 50). Building the two indexes reads the table once each,
no rewrite, but writes to it wait meanwhile: minutes at 100 M records.
"""

from collections import defaultdict

from django.db import migrations, models

import annotation.models.submissions


def schemes_to_submissions(apps, schema_editor):
    """A submission whose records all have one scheme takes it; one with mixed or none keeps ""."""
    Record = apps.get_model("annotation", "Record")
    Submission = apps.get_model("annotation", "Submission")
    schemes = defaultdict(set)
    for submission_id, scheme in Record.objects.order_by().values_list("submission_id", "band_scheme").distinct():
        schemes[submission_id].add(scheme)
    by_scheme = defaultdict(list)
    for submission_id, found in schemes.items():
        if len(found) == 1:
            by_scheme[found.pop()].append(submission_id)
    for scheme, submission_ids in by_scheme.items():
        Submission.objects.filter(pk__in=submission_ids).update(band_scheme=scheme)


class Migration(migrations.Migration):

    dependencies = [
        ("annotation", "0016_preference_review"),
    ]

    operations = [
        migrations.AddField(
            model_name="submission",
            name="band_scheme",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.RunPython(schemes_to_submissions, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="submission",
            name="band_scheme",
            field=models.CharField(
                blank=True, default=annotation.models.submissions.current_band_scheme,
                help_text="The MinHash band scheme of all the records' bands; empty where they are not all of one.",
                max_length=64,
            ),
        ),
        migrations.RemoveField(
            model_name="record",
            name="band_scheme",
        ),
        migrations.AddIndex(
            model_name="record",
            index=models.Index(
                condition=models.Q(("kind", "pretraining"), ("status", "pending")), fields=["language", "id"],
                name="record_pending_pretraining",
            ),
        ),
        migrations.RemoveIndex(
            model_name="record",
            name="record_pending_queue_order",
        ),
        migrations.AddIndex(
            model_name="record",
            index=models.Index(
                condition=models.Q(("status", "pending"), models.Q(("kind", "pretraining"), _negated=True)),
                fields=["language", "kind", "id"], name="record_pending_queue_order",
            ),
        ),
    ]
