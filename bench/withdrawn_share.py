"""Withdrawn-share benchmark: what a page pays to say how much withdrawn data a snapshot holds.

Fills a fresh database as bench/snapshot.py does (``--records`` accepted
records, two languages), builds a snapshot, then withdraws one record of it
(timed: the withdrawal now counts the snapshots holding it, once). Then,
interleaved, ``--repeats`` times each:

- baseline: ``snapshot_withdrawn``, what every page view computed before
  (the database, then every shard's record, submission and token columns);
- stored: ``snapshot_withdrawn_share`` on a freshly fetched row, what the
  pages call now.

Prints the medians (ms), their ratio, the shard reads each made, and, last,
one JSON object. The figures must be equal and the stored path must read no
shard; ``--smoke`` (3,000 records) exits non-zero otherwise.

    .venv/bin/python bench/withdrawn_share.py [--records 1000000] [--repeats 7] [--smoke]
"""

import argparse
import os
import shutil
import statistics
import time

from fresh_database import django_setup, fresh_database
from outcome import Errors, finish
from snapshot import ROOT, fill

DB = "occiportal_bench_withdrawn"
SMOKE_RECORDS = 3000


def timed(call) -> tuple[float, object]:
    started = time.perf_counter()
    result = call()
    return (time.perf_counter() - started) * 1000, result


def measure(records: int, repeats: int, errors: Errors) -> dict:
    from django.contrib.auth import get_user_model

    from annotation.models import Record, Submission
    from training.models import Snapshot
    from training.services import lineage
    from training.services.snapshot_build import snapshot_build
    from training.services.snapshots import snapshot_create
    from training.services.withdrawals import withdrawal_create

    snapshot = snapshot_create(name="bench", license="CC-BY-4.0", parameters={"languages": ["de", "fr"]}, enqueue=False)
    snapshot = snapshot_build(snapshot_id=snapshot.pk)
    if not errors.check(snapshot.status == "ready", f"snapshot build: {snapshot.status}: {snapshot.failure[:300]}"):
        return {}
    submission = Submission.objects.get(language__code="fr")
    record = Record.objects.filter(submission=submission).order_by("pk").first()
    user = get_user_model().objects.create_user("bench", is_staff=True)
    withdraw_ms, _ = timed(lambda: withdrawal_create(user=user, submission=submission, record=record))

    reads = {"n": 0}
    real = lineage._shard_columns

    def counted(*args, **kwargs):
        reads["n"] += 1
        return real(*args, **kwargs)

    lineage._shard_columns = counted
    baseline, stored, figures = [], [], set()
    baseline_reads = stored_reads = 0
    for _ in range(repeats):
        before = reads["n"]
        ms, held = timed(lambda: lineage.snapshot_withdrawn(Snapshot.objects.get(pk=snapshot.pk)))
        baseline.append(ms), figures.add(held)
        baseline_reads += reads["n"] - before
        before = reads["n"]
        ms, held = timed(lambda: lineage.snapshot_withdrawn_share(Snapshot.objects.get(pk=snapshot.pk)))
        stored.append(ms), figures.add(held)
        stored_reads += reads["n"] - before
    lineage._shard_columns = real
    errors.check(len(figures) == 1, f"the stored figures differ from the shards': {sorted(map(str, figures))}")
    errors.check(next(iter(figures)).records == 1, "the withdrawn record was not counted")
    errors.check(stored_reads == 0, f"the stored path read shards {stored_reads} times")
    base, now = statistics.median(baseline), statistics.median(stored)
    return {
        "snapshot_rows": snapshot.totals()["records"], "shards": len(list((ROOT / snapshot.uri).rglob("*.parquet"))),
        "withdraw_ms": round(withdraw_ms, 1),
        "baseline_ms": round(base, 2), "stored_ms": round(now, 2), "speedup_stored_vs_baseline": round(base / now, 1),
        "shard_reads_per_view": {"baseline": baseline_reads / repeats, "stored": stored_reads / repeats},
    }  # fmt: skip


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_RECORDS} records, to see that it runs")
    args = parser.parse_args()
    records, repeats = (SMOKE_RECORDS, 2) if args.smoke else (args.records, args.repeats)
    out = ROOT / "bench" / "out" / ("withdrawn-smoke" if args.smoke else "withdrawn")
    shutil.rmtree(out, ignore_errors=True)
    os.environ["OCCIPORTAL_DATA_DIR"] = str(out / "data")
    django_setup(fresh_database(DB, smoke=args.smoke))
    started = time.perf_counter()
    fill(records)
    report = {"records": records, "repeats": repeats, "fill_seconds": round(time.perf_counter() - started, 1)}
    errors = Errors()
    report |= measure(records, repeats, errors)
    finish(report, errors, smoke=args.smoke)


if __name__ == "__main__":
    main()
