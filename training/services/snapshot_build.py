"""Build a snapshot: check licences, stream records into shards, write card and manifest.

Idempotent: a ready snapshot is left alone; a build that died half-way is
redone from scratch in a fresh temporary folder, which replaces the target
only when complete.
"""

from __future__ import annotations

import shutil
import time
from collections import defaultdict
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from annotation.models import Record, Submission
from occiportal.locks import advisory_lock
from training.models import Snapshot, SnapshotSubmission
from training.snapshots import card, manifest, select
from training.snapshots.assemble import Assembly
from training.snapshots.contamination import evaluation_index
from training.snapshots.estimate import snapshot_estimate
from training.snapshots.licenses import conflict_reason, license_conflicts
from training.snapshots.mixture import BudgetRefused


_LOCK_CLASS = 0x534E4150  # "SNAP": advisory lock namespace of snapshot builds
PROGRESS_SECONDS = 1.0


class SnapshotRefused(Exception):
    """The records' licences conflict with the declared licence and no override was given."""

    def __init__(self, conflicts: list[dict]):
        self.conflicts = conflicts
        names = ", ".join(f"#{c['submission_id']} ({c['license']})" for c in conflicts)
        super().__init__(f"licence conflicts with the declared licence in submissions {names}")


def snapshot_path(name: str, version: int) -> Path:
    return Path(settings.DATA_DIR) / "snapshots" / name / str(version)


def _work_folder(snapshot: Snapshot) -> Path:
    return snapshot_path(snapshot.name, snapshot.version).with_name(f".{snapshot.version}.building")


def snapshot_license_check(*, params: dict, license: str) -> list[dict]:
    """The submissions whose licence conflicts with ``license``, with records the filters take.

    A conflict is a matter of a submission's licence, so records are counted
    only under the licences that conflict: none, the usual case, and the
    check reads no record at all.
    """
    used = Submission.objects.order_by().values_list("license", flat=True).distinct()
    conflicting = sorted(spdx for spdx in used if conflict_reason(license, spdx))
    if not conflicting:
        return []
    with transaction.atomic():
        select.planner_settings()
        rows = [
            row for lang in params["languages"]
            for row in select.license_rows(select.records_for(params, lang), licenses=conflicting)
        ]
    return license_conflicts(license, rows)


def snapshot_build(*, snapshot_id: int) -> Snapshot:
    """Build ``snapshot_id`` to READY, or mark it FAILED with the reason; returns the row."""
    with advisory_lock(_LOCK_CLASS, snapshot_id) as mine:
        if not mine:  # another worker is building it right now (a duplicate delivery)
            return Snapshot.objects.get(pk=snapshot_id)
        snapshot = _start(snapshot_id)
        if snapshot.status == Snapshot.Status.READY:
            return snapshot
        _build_or_fail(snapshot)
    return Snapshot.objects.get(pk=snapshot.pk)


def _build_or_fail(snapshot: Snapshot) -> None:
    try:
        _build(snapshot)
    except SnapshotRefused as refused:
        Snapshot.objects.filter(pk=snapshot.pk).update(
            status=Snapshot.Status.FAILED, failure=str(refused), license_conflicts=refused.conflicts, finished_at=timezone.now()
        )
    except BudgetRefused as refused:  # records left since the definition (a withdrawal) no longer meet a budget
        Snapshot.objects.filter(pk=snapshot.pk).update(
            status=Snapshot.Status.FAILED, failure=str(refused), finished_at=timezone.now()
        )
    except Exception as error:
        Snapshot.objects.filter(pk=snapshot.pk).update(
            status=Snapshot.Status.FAILED, failure=f"{type(error).__name__}: {error}", finished_at=timezone.now()
        )
        raise
    finally:
        shutil.rmtree(_work_folder(snapshot), ignore_errors=True)  # gone after success too: it was renamed


def _start(snapshot_id: int) -> Snapshot:
    with transaction.atomic():
        snapshot = Snapshot.objects.select_for_update().get(pk=snapshot_id)
        if snapshot.status != Snapshot.Status.READY:
            snapshot.status, snapshot.progress, snapshot.failure = Snapshot.Status.BUILDING, 0, ""
            snapshot.started_at = timezone.now()
            snapshot.save(update_fields=["status", "progress", "failure", "started_at"])
    return snapshot


def _build(snapshot: Snapshot) -> None:
    target = snapshot_path(snapshot.name, snapshot.version)
    work = _work_folder(snapshot)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    # One consistent view of the records for the estimate, the stream and the
    # licence check: a record added mid-build cannot slip past the check.
    # Inside a transaction the cursor streams; outside, PostgreSQL would
    # materialise the whole result (WITH HOLD) before the first row.
    with transaction.atomic(), _ProgressWriter(snapshot.pk) as progress:
        _read_settings()
        assembly = _assemble(snapshot, work, progress, total=_records_at_most(snapshot.parameters))
        # The licence check reads the stream's tallies, not another pass over the records;
        # a refusal here discards what was written (the work folder goes).
        conflicts = license_conflicts(snapshot.license, select.license_rows_of(assembly.selected))
        if conflicts and not snapshot.license_override_reason.strip():
            raise SnapshotRefused(conflicts)
    _finish(snapshot, work, target, assembly, conflicts)


def _assemble(snapshot: Snapshot, work: Path, progress, *, total: int) -> Assembly:
    params = snapshot.parameters
    if params["mixture"]:
        weights = {lang: e["weight"] for lang, e in snapshot_estimate(params).items()}
    else:  # every record once: the estimate would only cost another pass over the records
        weights = dict.fromkeys(params["languages"], 1.0)
    assembly = Assembly(work, params, weights, evaluation_index(), lambda done: progress(min(99, 100 * done // total)))
    for language in params["languages"]:
        assembly.language(language)
    return assembly


def _records_at_most(params: dict) -> int:
    """The records the build may stream, for its progress: one count on the (language, kind, status) index."""
    records = Record.objects.filter(
        language__code__in=params["languages"], kind__in=params["kinds"], status__in=params["statuses"]
    )
    return records.count() or 1


def _read_settings() -> None:
    connection = transaction.get_connection()
    if connection.vendor != "postgresql":
        return
    # Only possible as the transaction's first statement: not when nested (tests, callers' atomic blocks).
    if not connection.savepoint_ids:
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    select.planner_settings()


class _ProgressWriter:
    """Writes progress on its own connection, so the bar moves while the build's transaction is open.

    At most once every ``PROGRESS_SECONDS``: each write is a commit, which
    waited for the disk 60 times in a 9-second build.
    """

    def __init__(self, snapshot_id: int):
        self.snapshot_id = snapshot_id
        self.connection = None
        self.written = None

    def __enter__(self):
        self.connection = connections.create_connection(DEFAULT_DB_ALIAS)
        return self

    def __call__(self, percent: int) -> None:
        now = time.monotonic()
        if self.written is not None and now - self.written < PROGRESS_SECONDS:
            return
        self.written = now
        with self.connection.cursor() as cursor:
            cursor.execute(f"UPDATE {Snapshot._meta.db_table} SET progress = %s WHERE id = %s", [percent, self.snapshot_id])

    def __exit__(self, *exc):
        self.connection.close()
        return False


def _finish(snapshot: Snapshot, work: Path, target: Path, assembly: Assembly, conflicts: list[dict]) -> None:
    lineage = _lineage_rows(snapshot, assembly.lineage)
    licensing = {"license": snapshot.license, "licenses": _licenses(lineage), "override": _override(snapshot, conflicts)}
    figures = {"params": snapshot.parameters, "counts": assembly.counts, "contamination": assembly.contamination,
               "fertility": assembly.fertility, "epochs": assembly.epochs}
    (work / "README.md").write_text(
        card.render(label=snapshot.label, partners=_partners(lineage), description=snapshot.description,
                    **licensing, **figures),
        encoding="utf-8",
    )
    digest = manifest.write(work, name=snapshot.name, version=snapshot.version, shards=assembly.shards,
                            **licensing, **figures)
    # Only a row that is not READY reaches here, so whatever sits at the target is a dead build's.
    shutil.rmtree(target, ignore_errors=True)
    work.rename(target)
    with transaction.atomic():
        SnapshotSubmission.objects.filter(snapshot=snapshot).delete()
        SnapshotSubmission.objects.bulk_create(lineage)
        Snapshot.objects.filter(pk=snapshot.pk).update(
            status=Snapshot.Status.READY, progress=100, uri=str(target), manifest_sha256=digest,
            counts=assembly.counts, contamination=assembly.contamination, fertility=assembly.fertility,
            license_conflicts=conflicts, finished_at=timezone.now(),
        )


def _lineage_rows(snapshot: Snapshot, tallies: dict) -> list[SnapshotSubmission]:
    submissions = Submission.objects.filter(pk__in=list(tallies)).select_related("partner", "language")
    return [
        SnapshotSubmission(
            snapshot=snapshot, submission=s, partner=s.partner, language=s.language.code, license=s.license,
            records=tallies[s.pk]["records"], tokens=tallies[s.pk]["tokens"], splits=dict(tallies[s.pk]["splits"]),
        )
        for s in sorted(submissions, key=lambda s: s.pk)
    ]


def _licenses(lineage: list[SnapshotSubmission]) -> dict:
    """Per record licence: the submissions under it and the rows they gave."""
    found: dict = defaultdict(lambda: {"submissions": 0, "records": 0})
    for row in lineage:
        found[row.license]["submissions"] += 1
        found[row.license]["records"] += row.records
    return dict(sorted(found.items()))


def _override(snapshot: Snapshot, conflicts: list[dict]) -> dict | None:
    """The licence override as card and manifest disclose it; None when there was none."""
    if not (snapshot.license_override_reason and conflicts):  # a reason with nothing to override overrode nothing
        return None
    by = snapshot.created_by.username if snapshot.created_by else ""
    return {"reason": snapshot.license_override_reason, "by": by, "conflicts": conflicts}


def _partners(lineage: list[SnapshotSubmission]) -> list[dict]:
    grouped: dict = defaultdict(lambda: {"submissions": 0, "records": 0})
    for row in lineage:
        cell = grouped[(row.partner.name, row.language, row.license)]
        cell["submissions"] += 1
        cell["records"] += row.records
    return [{"partner": p, "language": lang, "license": lic, **cell} for (p, lang, lic), cell in sorted(grouped.items())]
