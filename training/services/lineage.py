"""Lineage across versions: which records two snapshots do not share, per language and partner.

Row-level lineage lives in the shards (``record_id``, ``submission_id``);
this reads only those columns, as Arrow arrays, never as Python objects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from annotation.models import Record, Submission
from annotation.selectors import written_pairs
from training.models import Snapshot, SnapshotSubmission

_COLUMNS = ["record_id", "submission_id", "language"]
_TYPES = {"record_id": pa.int64(), "submission_id": pa.int64(), "language": pa.string(), "tokens": pa.int64()}


def snapshot_rows(snapshot: Snapshot, *, language: str | None = None) -> pa.Table:
    """Distinct (record, submission, language) of a ready snapshot."""
    return _shard_columns(snapshot, _COLUMNS, language=language).group_by(_COLUMNS).aggregate([])


def _shard_columns(snapshot: Snapshot, columns: list[str], *, language: str | None = None) -> pa.Table:
    """Every row of a ready snapshot's shards (of one language, if given), only ``columns``."""
    root = Path(snapshot.uri)
    entries = json.loads((root / "manifest.json").read_text())["shards"]
    tables = [
        pq.read_table(root / e["path"], columns=columns)
        for e in entries
        if language is None or e["path"].startswith(f"{language}/")
    ]
    if not tables:
        return pa.table({name: pa.array([], _TYPES[name]) for name in columns})
    return pa.concat_tables(tables)


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


def credited_submissions(record_ids: list[int]) -> set[int]:
    """The submissions of the records these edits correct, up their chains: where snapshots credit the edits."""
    submissions, frontier = set(), record_ids
    while frontier:
        parents = list(Record.objects.filter(pk__in=frontier, edit_of__isnull=False).values_list("edit_of", "edit_of__submission"))
        submissions |= {submission for _, submission in parents}
        frontier = [parent for parent, _ in parents]
    return submissions


def pairs_written_for(record_ids: list[int], submissions: list[int] = ()) -> list[int]:
    """The preference pairs written in review for these records, or for records of these submissions.

    Such a pair holds its source's prompt, so it leaves with it; it sits in
    its writer's submission, so neither its ``submission_id`` nor an edit
    chain finds it. People write them: they are few, and looked at from their side.
    """
    links = dict(written_pairs().order_by().values_list("pk", "source"))
    if not links:
        return []
    sources = Record.objects.filter(pk__in=set(links.values())).filter(Q(pk__in=record_ids) | Q(submission__in=submissions))
    found = set(sources.values_list("pk", flat=True))
    return [pair for pair, source in links.items() if source in found]


def records_with_edits(record_ids: list[int]) -> list[int]:
    """``record_ids`` and every record that corrects one of them, edits of edits included."""
    found, frontier = list(record_ids), list(record_ids)
    while frontier:
        frontier = list(Record.objects.filter(edit_of__in=frontier).values_list("pk", flat=True))
        found += frontier
    return found


@dataclass(frozen=True)
class WithdrawnShare:
    """What a ready snapshot holds of data withdrawn since it was built (rows count upsampled repeats)."""

    records: int = 0
    rows: int = 0
    tokens: int = 0
    total_rows: int = 0

    def __bool__(self):
        return self.records > 0

    @property
    def percent(self) -> float:
        return 100 * self.rows / self.total_rows if self.total_rows else 0.0


def snapshot_withdrawn_share(snapshot: Snapshot) -> WithdrawnShare:
    """What a ready snapshot holds of withdrawn data, as last counted (``snapshot_withdrawn_count``): no shard read.

    A snapshot never counted (built before the counts were stored, or by
    ``snapshot_build`` outside its task) is counted now, once.
    """
    if snapshot.status != Snapshot.Status.READY:
        return WithdrawnShare()
    if snapshot.withdrawn_counted_at is None:
        return snapshot_withdrawn_count(snapshot_id=snapshot.pk)
    return WithdrawnShare(records=snapshot.withdrawn_records, rows=snapshot.withdrawn_rows,
                          tokens=snapshot.withdrawn_tokens, total_rows=snapshot.withdrawn_total_rows)


def snapshot_withdrawn_count(*, snapshot_id: int) -> WithdrawnShare:
    """Count what the snapshot holds of withdrawn data (``snapshot_withdrawn``, reading its shards) and store it.

    Ready snapshots only. Under the row's lock, so two withdrawals reaching one snapshot at once
    count it one after the other, the second seeing both.
    """
    with transaction.atomic():
        snapshot = Snapshot.objects.select_for_update().get(pk=snapshot_id)
        if snapshot.status != Snapshot.Status.READY:  # counted once ready: until then it may still take records
            return WithdrawnShare()
        held = snapshot_withdrawn(snapshot)
        Snapshot.objects.filter(pk=snapshot_id).update(
            withdrawn_records=held.records, withdrawn_rows=held.rows, withdrawn_tokens=held.tokens,
            withdrawn_total_rows=held.total_rows, withdrawn_counted_at=timezone.now(),
        )  # fmt: skip
    return held


def snapshots_maybe_withdrawn(snapshots: QuerySet[Snapshot]) -> QuerySet[Snapshot]:
    """Those of ``snapshots`` that can hold withdrawn data, however many they are, in a few queries: read only their shards.

    One with a submission that lost records, or one credited with a withdrawn
    edit: snapshots credit edits to their originals' submissions.
    """
    edits = Record.objects.filter(status=Record.Status.WITHDRAWN, edit_of__isnull=False).values_list("pk", flat=True)
    touched = SnapshotSubmission.objects.filter(
        Q(submission__withdrawn_records__gt=0) | Q(submission__in=credited_submissions(list(edits)))
    )
    return snapshots.filter(pk__in=touched.values("snapshot"))


def snapshot_withdrawn(snapshot: Snapshot) -> WithdrawnShare:
    """The withdrawn records a ready snapshot holds, their rows and tokens, and their share of its rows.

    Snapshots are immutable: whatever was withdrawn after the build is still
    in the shards. A whole withdrawn submission is found by its
    ``submission_id`` (the column also credits edits of its records to it);
    single records and their edits by ``record_id``. The shards are read only
    when the database says something of the snapshot's was withdrawn.
    """
    if snapshot.status != Snapshot.Status.READY:
        return WithdrawnShare()
    lineage = snapshot.lineage.values("submission")
    whole = list(Submission.objects.filter(pk__in=lineage, withdrawn_at__isnull=False).values_list("pk", flat=True))
    # Edits sit in their writers' submissions, not in the lineage: look for them by language.
    single = Record.objects.filter(status=Record.Status.WITHDRAWN).exclude(submission__in=whole).filter(
        Q(submission__in=lineage) | Q(edit_of__isnull=False, language__code__in=snapshot.lineage.values("language"))
    )
    record_ids = records_with_edits(list(single.values_list("pk", flat=True)))
    # Pairs written in review sit in their writers' submissions and hold their sources' prompts.
    record_ids += pairs_written_for(record_ids, whole)
    if not whole and not record_ids:
        return WithdrawnShare()
    table = _shard_columns(snapshot, ["record_id", "submission_id", "tokens"])
    held = pc.or_(pc.is_in(table["submission_id"], value_set=pa.array(whole, pa.int64())),
                  pc.is_in(table["record_id"], value_set=pa.array(record_ids, pa.int64())))
    rows = table.filter(held)
    return WithdrawnShare(
        records=pc.count_distinct(rows["record_id"]).as_py(), rows=rows.num_rows,
        tokens=pc.sum(rows["tokens"]).as_py() or 0, total_rows=table.num_rows,
    )
