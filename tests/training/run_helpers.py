"""Factories for run tests: a snapshot folder written by hand, its row, a base model, a run."""

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings

from training.models import BaseModel, Snapshot
from training.services.runs import training_run_create

GERMAN = [
    "Der Herbst kommt in diesem Jahr früh und die Blätter färben sich gelb.",
    "Brot backen ist einfacher, als viele denken: Mehl, Wasser, Salz und Hefe.",
    "Die Stadtbibliothek hat ihre Öffnungszeiten am Samstag verlängert.",
]
FRENCH = ["Le chat dort au soleil sur le rebord de la fenêtre.", "Nous partons à la mer chaque été."]
FAST = {"max_steps": 4, "batch_size": 2, "seq_len": 32, "log_every": 1, "save_every": 2,
        "learning_rate": 3e-3, "warmup_ratio": 0.0, "heartbeat_seconds": 1}  # fmt: skip


def write_snapshot_folder(root: Path) -> tuple[Path, str]:
    """``<lang>/{train,test}-00000.parquet`` + manifest.json listing them, as training/jobs/data.py reads."""
    shards = []
    for language, texts in {"de": GERMAN, "fr": FRENCH}.items():
        (root / language).mkdir(parents=True, exist_ok=True)
        rows = [{"kind": "pretraining", "language": language, "text": t} for t in texts * 10]
        for split, table in (("train", rows), ("test", rows[:2])):
            path = root / language / f"{split}-00000.parquet"
            pq.write_table(pa.Table.from_pylist(table), path)
            shards.append({"path": f"{language}/{split}-00000.parquet", "rows": len(table), "bytes": path.stat().st_size,
                           "sha256": hashlib.sha256(path.read_bytes()).hexdigest()})  # fmt: skip
    manifest = root / "manifest.json"
    manifest.write_text(json.dumps({"shards": shards, "languages": ["de", "fr"], "card_sha256": None}))
    return root, hashlib.sha256(manifest.read_bytes()).hexdigest()


def make_snapshot(name="corpus", version=None) -> Snapshot:
    version = version or Snapshot.objects.filter(name=name).count() + 1
    folder, sha256 = write_snapshot_folder(Path(settings.DATA_DIR) / "snapshots" / f"{name}-{version}")
    return Snapshot.objects.create(
        name=name, version=version, license="CC-BY-4.0", status=Snapshot.Status.READY,
        uri=str(folder), manifest_sha256=sha256,
    )  # fmt: skip


def make_base_model(name="tiny") -> BaseModel:
    folder = Path(settings.DATA_DIR) / "models" / name
    folder.mkdir(parents=True, exist_ok=True)
    return BaseModel.objects.get_or_create(name=name, defaults={"source": str(folder), "is_tiny": True})[0]


def make_run(*, user=None, snapshot=None, base_model=None, hyperparameters=FAST, **fields):
    return training_run_create(
        created_by=user, snapshot=snapshot or make_snapshot(), base_model=base_model or make_base_model(),
        method="cpt", hyperparameters=dict(hyperparameters), **fields,
    )  # fmt: skip
