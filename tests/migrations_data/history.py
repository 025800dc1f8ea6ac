"""What the scripts in this folder share: move the database to a point in the migration history, and create
the rows most of them start from, as the models stood there."""

import uuid

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate_back(targets):
    """Migrate to ``targets`` (a list of (app, migration)); the historical apps there, to create rows with."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def migrate_forward():
    """Run every migration still unapplied: the ones under test."""
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def pretraining_submission(apps):
    """A ready German pretraining submission uploaded by "anna" of the partner "alpha", in the historical ``apps``."""
    partner = apps.get_model("occiportal", "Partner").objects.create(slug="alpha", name="Alpha")
    return apps.get_model("annotation", "Submission").objects.create(
        uuid=uuid.uuid4(), partner=partner, uploader=apps.get_model("auth", "User").objects.create(username="anna"),
        language=apps.get_model("occiportal", "Language").objects.get(code="de"),
        kind="pretraining", license="CC-BY-4.0", source="s", consent=True, original_name="a.jsonl", status="ready",
    )
