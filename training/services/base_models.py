"""Base models from the portal's pages and the command line: the tiny demo model, built where files may be written.

``base_model_create_tiny`` is the one function behind ``create_base_model
--tiny`` and the base-model page's button (through a task on the default
queue: it writes a model folder, which a web request must not wait for).
"""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _

from annotation.models import Record
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
    # Imported here: torch loads only in the process that builds (the command,
    # or the worker running the task), never in a web process importing this module.
    from training.jobs.tiny import create_tiny_model

    folder = Path(out or Path(settings.DATA_DIR) / "models" / name).resolve()
    create_tiny_model(folder, portal_texts() or demo_texts(), vocab_size=vocab_size, **config)
    return base_model_create(name=name, source=str(folder), is_tiny=True)


def portal_texts() -> list[str]:
    """Text of accepted and pending records, whatever their kind."""
    records = Record.objects.filter(status__in=[Record.Status.ACCEPTED, Record.Status.PENDING]).order_by("pk")
    texts = []
    for content in records.values_list("content", flat=True)[:MAX_TEXTS]:
        texts.extend(_strings(content))
    return texts


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
