"""Base models from the portal's pages and the command line: the tiny demo model, built where files may be written.

``base_model_create_tiny`` is the one function behind ``create_base_model
--tiny`` and the base-model page's button (through a task on the default
queue: it writes a model folder, which a web request must not wait for).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _

from annotation.models import Record
from annotation.text_selectors import records_text_read
from occiportal.broker import send_on_commit
from training.models import BaseModel

from .runs import base_model_create

BUILD_TINY = "training.run_tasks.base_model_build_tiny"
DEMO_TEXT = Path(settings.BASE_DIR) / "annotation" / "demo" / "sample.jsonl"
MAX_TEXTS = 20_000


def base_model_tiny_request(*, user, name: str) -> None:
    """Staff queue the tiny demo model ``name``; ValidationError if a base model has that name already."""
    if not user.is_staff:
        raise PermissionDenied("only staff add base models")
    BaseModel(name=name, source="-").clean_fields(exclude=["source", "revision", "tokenizer"])
    if BaseModel.objects.filter(name=name).exists():
        raise ValidationError(_("A base model named %(name)s exists already.") % {"name": name})
    send_on_commit(BUILD_TINY, args=[name], queue="default")


def base_model_create_tiny(*, name: str, out: str | Path | None = None, vocab_size: int = 2048, **config) -> BaseModel:
    """Build a small Mistral whose tokenizer learns from the portal's text (the demo text on an empty portal).

    Written to ``out`` (default ``DATA_DIR/models/<name>``) and registered as
    ``name``; ``config`` goes to training/jobs/tiny.py (hidden_size, num_layers, ...).
    Idempotent on ``name``: a base model of that name is returned as it is.
    """
    existing = BaseModel.objects.filter(name=name).first()
    if existing:
        return existing
    folder = Path(out or Path(settings.DATA_DIR) / "models" / name).resolve()
    _build_tiny(folder, {"vocab_size": vocab_size, **config})
    return base_model_create(name=name, source=str(folder), is_tiny=True)


def _build_tiny(folder: Path, config: dict) -> None:
    # A job in a child process (training/jobs/tiny.py): the portal's processes,
    # the worker running the page's task included, load neither torch nor the job code.
    with tempfile.TemporaryDirectory(prefix="occiportal-tiny-") as scratch:
        texts, config_file = Path(scratch) / "texts.json", Path(scratch) / "config.json"
        texts.write_text(json.dumps(portal_texts() or demo_texts()), encoding="utf-8")
        config_file.write_text(json.dumps(config), encoding="utf-8")
        command = [sys.executable, "-m", "training.jobs.tiny", str(folder), str(texts), str(config_file)]
        result = subprocess.run(command, cwd=settings.BASE_DIR, capture_output=True, text=True)
    if result.returncode != 0:
        raise ValidationError(f"building the tiny model failed: {result.stderr[-2000:]}")


def portal_texts() -> list[str]:
    """Text of accepted and pending records, whatever their kind."""
    records = list(Record.objects.filter(status__in=[Record.Status.ACCEPTED, Record.Status.PENDING]).order_by("pk")[:MAX_TEXTS])
    contents = records_text_read(records)  # pretraining text is in the chunk files
    return [s for record in records for s in _strings(contents.get(record.pk, {}))]


def demo_texts() -> list[str]:
    lines = DEMO_TEXT.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines if line.strip()]


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, item in value.items() if key not in ("id", "role", "answer") for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []
