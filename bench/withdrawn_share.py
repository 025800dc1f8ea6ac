"""Withdrawn-share benchmark: what a page pays to say how much withdrawn data a snapshot holds.

Fills a fresh database as bench/snapshot.py does (``--records`` accepted
records, two languages), builds a snapshot, then withdraws one record of it,
timed two ways in the same run: the request as it is now (it commits and
queues the follow-up; no shard read: ``request_ms``), then the follow-up the
worker runs (text removal, then finding and counting the snapshots holding
it, once: ``follow_up_ms``); ``withdraw_sync_ms``, their sum, is what the
request cost when it did both. Then, interleaved, ``--repeats`` times each:

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
from types import SimpleNamespace

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
    from occiportal import broker
    from training.services.withdrawals import FOLLOW_UP_TASK, withdrawal_create, withdrawals_follow_up

    snapshot = snapshot_create(name="bench", license="CC-BY-4.0", parameters={"languages": ["de", "fr"]}, enqueue=False)
    snapshot = snapshot_build(snapshot_id=snapshot.pk)
    if not errors.check(snapshot.status == "ready", f"snapshot build: {snapshot.status}: {snapshot.failure[:300]}"):
        return {}
    submission = Submission.objects.get(language__code="fr")
    record = Record.objects.filter(submission=submission).order_by("pk").first()
    user = get_user_model().objects.create_user("bench", is_staff=True)
    reads = {"n": 0}
    real = lineage._shard_columns

    def counted(*args, **kwargs):
        reads["n"] += 1
        return real(*args, **kwargs)

    lineage._shard_columns = counted
    # The request: commit, then the message handed to the broker on commit. The broker is stood in for (a
    # list): a real one's worker would take the message to its own database.
    sent = []
    broker.current_app = SimpleNamespace(send_task=lambda name, **kwargs: sent.append((name, kwargs["args"])))
    request_ms, withdrawal = timed(lambda: withdrawal_create(user=user, submission=submission, record=record))
    errors.check(sent == [(FOLLOW_UP_TASK, [[withdrawal.pk]])], f"the request queued {sent}, not one follow-up")
    request_reads = reads["n"]
    errors.check(request_reads == 0, f"the withdrawal request read shards {request_reads} times")
    errors.check(withdrawal.snapshots_found_at is None, "the request counted: nothing left for the worker")
    # The worker's half, which the request ran itself before.
    follow_up_ms, _ = timed(lambda: withdrawals_follow_up(withdrawal_ids=[withdrawal.pk]))
    follow_up_reads = reads["n"] - request_reads
    withdrawal.refresh_from_db()
    errors.check(withdrawal.snapshots_found_at is not None and withdrawal.text_pruned_at is not None,
                 "the follow-up left the counting or the text removal pending")  # fmt: skip
    errors.check(list(withdrawal.snapshots.all()) == [snapshot], "the follow-up did not find the snapshot")
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
        "withdraw_request_ms": round(request_ms, 1), "withdraw_follow_up_ms": round(follow_up_ms, 1),
        "withdraw_sync_ms": round(request_ms + follow_up_ms, 1),
        "speedup_request_vs_sync": round((request_ms + follow_up_ms) / request_ms, 1),
        "shard_reads_withdrawal": {"request": request_reads, "follow_up": follow_up_reads},
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
