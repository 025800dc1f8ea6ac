"""Lineage across versions: which records two snapshots do not share, per language and partner.

Row-level lineage lives in the shards (``record_id``, ``submission_id``);
this reads only those columns, as Arrow arrays, never as Python objects.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from annotation.models import Submission
from training.models import Snapshot

_COLUMNS = ["record_id", "submission_id", "language"]


def snapshot_rows(snapshot: Snapshot, *, language: str | None = None) -> pa.Table:
    """Distinct (record, submission, language) of a ready snapshot."""
    root = Path(snapshot.uri)
    entries = json.loads((root / "manifest.json").read_text())["shards"]
    tables = [
        pq.read_table(root / e["path"], columns=_COLUMNS)
        for e in entries
        if language is None or e["path"].startswith(f"{language}/")
    ]
    if not tables:
        return pa.table({"record_id": pa.array([], pa.int64()), "submission_id": pa.array([], pa.int64()), "language": pa.array([], pa.string())})
    table = pa.concat_tables(tables)
    return table.group_by(_COLUMNS).aggregate([])


def snapshot_compare(*, old: Snapshot, new: Snapshot) -> dict:
    """Records added and removed from ``old`` to ``new``, per language and partner."""
    before, after = snapshot_rows(old), snapshot_rows(new)
    added = after.filter(pc.invert(pc.is_in(after["record_id"], value_set=before["record_id"])))
    removed = before.filter(pc.invert(pc.is_in(before["record_id"], value_set=after["record_id"])))
    partner_of = dict(
        Submission.objects.filter(
            pk__in=set(added["submission_id"].to_pylist()) | set(removed["submission_id"].to_pylist())
        ).values_list("pk", "partner__slug")
    )
    return {
        "old": old.label, "new": new.label,
        "added": _grouped(added, partner_of), "removed": _grouped(removed, partner_of),
        "totals": {"added": added.num_rows, "removed": removed.num_rows},
    }


def _grouped(table: pa.Table, partner_of: dict) -> list[dict]:
    counts = table.group_by(["language", "submission_id"]).aggregate([("record_id", "count")]).to_pylist()
    merged: dict[tuple[str, str], int] = {}
    for row in counts:
        key = (row["language"], partner_of.get(row["submission_id"], "?"))
        merged[key] = merged.get(key, 0) + row["record_id_count"]
    return [{"language": lang, "partner": partner, "records": n} for (lang, partner), n in sorted(merged.items())]


def snapshot_holds_any(snapshot: Snapshot, *, record_ids: list[int], language: str) -> bool:
    """Whether a ready snapshot holds any of ``record_ids`` in ``language``'s shards."""
    rows = snapshot_rows(snapshot, language=language)
    if not rows.num_rows:
        return False
    return bool(pc.any(pc.is_in(rows["record_id"], value_set=pa.array(record_ids, pa.int64()))).as_py())
