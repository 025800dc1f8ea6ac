"""Suites made from portal data: a snapshot's test split.

Documents become perplexity texts; the evaluation items written in the
portal (a snapshot puts them in its test split only) become
multiple-choice items; preference records become pairs of the task
``preference`` (prompt, chosen, rejected), per language.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
from django.conf import settings
from django.core.exceptions import ValidationError

from training.models import EvaluationSuite, Snapshot


def snapshot_test_suite(*, snapshot: Snapshot) -> EvaluationSuite:
    """``DATA_DIR/suites/<name>-v<version>-test/<lang>.jsonl``, made once per snapshot.

    Lines are ``{"text"}`` documents, ``{"question", "choices", "answer"}`` items and
    ``{"task": "preference", "prompt", "chosen", "rejected"}`` pairs.

    A ready snapshot never changes, so an existing folder is reused as is.
    """
    name = f"{snapshot.name}-v{snapshot.version}-test"
    folder = Path(settings.DATA_DIR) / "suites" / name
    if not folder.is_dir():
        partial = folder.with_name(f".{name}.partial")
        partial.mkdir(parents=True, exist_ok=True)
        for language_dir in sorted(p for p in Path(snapshot.uri).iterdir() if p.is_dir()):
            items = [item for shard in sorted(language_dir.glob("test-*.parquet")) for item in _items(shard)]
            if items:
                lines = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)
                (partial / f"{language_dir.name}.jsonl").write_text(lines, encoding="utf-8")
        if not any(partial.glob("*.jsonl")):
            raise ValidationError(f"snapshot {snapshot.label} has no test texts")
        partial.rename(folder)
    suite, _ = EvaluationSuite.objects.get_or_create(
        path=str(folder.resolve()), defaults={"name": name, "provenance": EvaluationSuite.Provenance.NATIVE}
    )
    return suite


_ITEM = ("question", "choices", "answer")
_PAIR = ("prompt", "prompt_messages", "messages", "chosen", "rejected")
PREFERENCE_TASK = "preference"


def _items(shard: Path) -> list[dict]:
    names = set(pq.ParquetFile(shard).schema_arrow.names)
    columns = [c for c in ("text", *_ITEM, *_PAIR) if c in names]
    items = []
    for row in pq.read_table(shard, columns=columns).to_pylist():
        if row.get("text"):
            items.append({"text": row["text"]})
        elif all(row.get(c) is not None for c in _ITEM):
            items.append({c: row[c] for c in _ITEM})
        elif row.get("chosen") and row.get("rejected") and (pair := _pair(row)):
            items.append(pair)
    return items



def _pair(row: dict) -> dict | None:
    # training/snapshots/writer.py keeps a conversation prompt in prompt_messages (older shards: messages).
    turns = row.get("prompt_messages") or row.get("messages")
    prompt = row.get("prompt") or ([{"role": t["role"], "content": t["content"]} for t in turns] if turns else None)
    rejected = [row["rejected"]] if isinstance(row["rejected"], str) else row["rejected"]
    if not prompt:
        return None
    return {"task": PREFERENCE_TASK, "prompt": prompt, "chosen": row["chosen"], "rejected": rejected}
