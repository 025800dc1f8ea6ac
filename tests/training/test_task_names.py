"""Tasks keep the names they were queued under: a message sent before a module moved still finds its task."""

from occiportal.celery import app

# The names in the broker and in beat's schedule; changing one strands the messages already queued.
NAMES = {
    "training.tasks.snapshot_build",
    "training.tasks.snapshot_hub_push",
    "training.run_tasks.record_event",
    "training.run_tasks.runs_sweep",
    "training.run_tasks.write_stop_markers",
    "training.run_tasks.base_model_build_tiny",
}


def test_every_training_task_keeps_its_name():
    app.loader.import_default_modules()
    registered = {name for name, task in app.tasks.items() if task.__module__.startswith("training.")}
    assert registered == NAMES
