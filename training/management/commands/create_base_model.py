"""Register a base model: a hub id (nothing is downloaded) or a tiny local Mistral built here.

Its revision is pinned for every run: the commit or tag given for a hub id, the
hash of the files for a local folder (``local_model_revision`` in training/jobs/contract.py).
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from annotation.models import Record
from annotation.text_selectors import records_text_read
from training.services.runs import base_model_create

DEMO_TEXT = Path(settings.BASE_DIR) / "annotation" / "demo" / "sample.jsonl"
MAX_TEXTS = 20_000


class Command(BaseCommand):
    help = "Register base model NAME from --source (hub id or folder), or build a tiny one with --tiny."

    def add_arguments(self, parser):
        parser.add_argument("name")
        what = parser.add_mutually_exclusive_group(required=True)
        what.add_argument("--source", help="hub id (mistralai/Mistral-7B-v0.1) or a local folder")
        what.add_argument("--tiny", action="store_true", help="build a small Mistral with a tokenizer trained on the portal's text")
        parser.add_argument("--revision", default="", help="hub commit or tag (a folder's is the hash of its files)")
        parser.add_argument("--out", help="folder for --tiny (default: DATA_DIR/models/NAME)")
        parser.add_argument("--vocab-size", type=int, default=2048)
        parser.add_argument("--hidden-size", type=int, default=256)
        parser.add_argument("--layers", type=int, default=4)
        parser.add_argument("--heads", type=int, default=4)
        parser.add_argument("--kv-heads", type=int, default=2)
        parser.add_argument("--max-positions", type=int, default=1024)

    def handle(self, *args, **options):
        source, tiny = options["source"], options["tiny"]
        if tiny:
            source = str(self._build_tiny(options))
        try:
            model = base_model_create(name=options["name"], source=source, revision=options["revision"], is_tiny=tiny)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages))
        fields = {"base_model": model.name, "source": model.source, "revision": model.revision, "is_tiny": model.is_tiny}
        self.stdout.write(json.dumps(fields))

    def _build_tiny(self, options) -> Path:
        # A job in a child process: this process loads neither torch nor the job code.
        out = Path(options["out"] or Path(settings.DATA_DIR) / "models" / options["name"]).resolve()
        config = {
            "vocab_size": options["vocab_size"], "hidden_size": options["hidden_size"], "num_layers": options["layers"],
            "num_heads": options["heads"], "num_kv_heads": options["kv_heads"],
            "max_position_embeddings": options["max_positions"],
        }  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="occiportal-tiny-") as scratch:
            texts, config_file = Path(scratch) / "texts.json", Path(scratch) / "config.json"
            texts.write_text(json.dumps(portal_texts() or demo_texts()), encoding="utf-8")
            config_file.write_text(json.dumps(config), encoding="utf-8")
            command = [sys.executable, "-m", "training.jobs.tiny", str(out), str(texts), str(config_file)]
            result = subprocess.run(command, cwd=settings.BASE_DIR, capture_output=True, text=True)
        if result.returncode != 0:
            raise CommandError(f"building the tiny model failed:\n{result.stderr[-2000:]}")
        return out


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
