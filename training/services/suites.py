"""Suites made from portal data: a snapshot's test split as perplexity documents."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
from django.conf import settings
from django.core.exceptions import ValidationError

from training.models import EvaluationSuite, Snapshot


def snapshot_test_suite(*, snapshot: Snapshot) -> EvaluationSuite:
    """``DATA_DIR/suites/<name>-v<version>-test/<lang>.jsonl`` of ``{"text"}`` lines; made once per snapshot.

    A ready snapshot never changes, so an existing folder is reused as is.
    """
    name = f"{snapshot.name}-v{snapshot.version}-test"
    folder = Path(settings.DATA_DIR) / "suites" / name
    if not folder.is_dir():
        partial = folder.with_name(f".{name}.partial")
        partial.mkdir(parents=True, exist_ok=True)
        for language_dir in sorted(p for p in Path(snapshot.uri).iterdir() if p.is_dir()):
            texts = [t for shard in sorted(language_dir.glob("test-*.parquet")) for t in _texts(shard)]
            if texts:
                lines = "".join(json.dumps({"text": text}, ensure_ascii=False) + "\n" for text in texts)
                (partial / f"{language_dir.name}.jsonl").write_text(lines, encoding="utf-8")
        if not any(partial.glob("*.jsonl")):
            raise ValidationError(f"snapshot {snapshot.label} has no test texts")
        partial.rename(folder)
    suite, _ = EvaluationSuite.objects.get_or_create(
        path=str(folder.resolve()), defaults={"name": name, "provenance": EvaluationSuite.Provenance.NATIVE}
    )
    return suite


def _texts(shard: Path) -> list[str]:
    names = pq.ParquetFile(shard).schema_arrow.names
    if "text" not in names:
        return []
    return [t for t in pq.read_table(shard, columns=["text"]).column("text").to_pylist() if t]
