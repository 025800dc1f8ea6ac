"""Training's layout holds: tasks keep the names they were queued under, and dependencies point one way."""

import ast
from pathlib import Path

from occiportal.celery import app

ROOT = Path(__file__).resolve().parents[2]

# The names in the broker and in beat's schedule; changing one strands the messages already queued.
NAMES = {
    "training.tasks.snapshot_build",
    "training.tasks.snapshot_hub_push",
    "training.tasks.withdrawal_follow_up",
    "training.run_tasks.record_event",
    "training.run_tasks.runs_sweep",
    "training.run_tasks.write_stop_markers",
    "training.run_tasks.base_model_build_tiny",
}


def test_every_training_task_keeps_its_name():
    app.loader.import_default_modules()
    registered = {name for name, task in app.tasks.items() if task.__module__.startswith("training.")}
    assert registered == NAMES


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_nothing_imports_the_tasks_module_services_send_by_name():
    # Tasks call services; a service that imported tasks back is the cycle the layout removed.
    importers = sorted(
        str(path.relative_to(ROOT)) for package in ("annotation", "occiportal", "training")
        for path in (ROOT / package).rglob("*.py")
        if "training.tasks" in imported_modules(path)
    )  # fmt: skip
    assert not importers
