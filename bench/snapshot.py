"""Snapshot benchmark: the real build vs COPY-out + pyarrow, on PostgreSQL.

Fills a fresh database with ``--records`` accepted pretraining records (two
languages, COPY'd straight in: ingest has its own benchmark), then, each in
a fresh process:

- baseline: ``COPY (SELECT id, submission_id, kind, text, tokens …) TO STDOUT``
  and write the rows to one Parquet file with pyarrow, 2,000-row batches;
- snapshot: ``snapshot_create`` + ``snapshot_build`` exactly as the task
  calls it (licence checks at creation and build, near-duplicate reduction,
  edits, contamination check, split, shards, card, manifest; no mixture, so
  no estimate).

Prints records/s and peak RSS (MiB) of each, the speed ratio, and, last, one
JSON object with everything. Target: the build at least half the baseline's
speed; memory bounded by a shard, not by the snapshot.

    .venv/bin/python bench/snapshot.py [--records 1000000]
"""

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

from copy_rows import copy_rows
from fresh_database import database_url, django_setup, fresh_database
from outcome import Errors, finish

ROOT = Path(__file__).resolve().parent.parent
DB = "occiportal_bench_snapshot"
SMOKE_RECORDS = 3000
WORDS = {
    "de": "der die und in den von zu das mit sich des auf für ist im dem nicht ein eine als auch es an werden aus er hat dass sie nach wird bei einer um am sind noch wie Stadt Wasser Haus Schule Arbeit Menschen Jahre Zeit".split(),
    "fr": "le de un être et à il avoir ne je son que se qui ce dans en du elle au pour pas vous par sur faire plus dire me on mon lui nous comme mais ville maison école travail gens années temps".split(),
}


def fill(records: int) -> None:
    """Partner, two submissions (ORM), ``records`` accepted records (COPY, columns from the model)."""
    import xxhash

    from django.db import connection

    from annotation.models import Record, Submission
    from occiportal.models import Language, Partner

    rng = random.Random(records)
    partner = Partner.objects.create(slug="bench", name="Bench")
    submissions = {
        code: Submission.objects.create(
            uuid=uuid.uuid4(), partner=partner, language=Language.objects.get(code=code), kind="pretraining",
            license="CC-BY-4.0", source="bench", consent=True, file="bench.jsonl", original_name="bench.jsonl",
            status="ready",
        )
        for code in WORDS
    }  # fmt: skip

    def rows():
        for i in range(records):
            code = "de" if i % 3 else "fr"
            words = WORDS[code]
            text = " ".join(rng.choice(words) for _ in range(rng.randint(40, 120))) + f" {i}."
            submission = submissions[code]
            yield {"submission_id": submission.pk, "line": i + 1, "language_id": submission.language_id,
                   "kind": "pretraining", "content": {"text": text}, "content_hash": xxhash.xxh3_128_hexdigest(text.encode()),
                   "status": "accepted", "detected_language": code, "tokens": len(text.split())}  # fmt: skip

    copy_rows(Record, rows())
    # VACUUM, not just ANALYZE: otherwise whichever phase runs first sets the
    # fresh rows' hint bits, rewriting every page, and pays for both.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) annotation_record")


def out_dir(smoke: bool) -> Path:
    return ROOT / "bench" / "out" / ("snapshot-smoke" if smoke else "snapshot")


def phase_baseline(out: Path) -> dict:
    import psycopg
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("record_id", pa.int64()), ("submission_id", pa.int64()), ("kind", pa.string()),
                        ("text", pa.string()), ("tokens", pa.int64())])
    started = time.perf_counter()
    count = 0
    path = out / "baseline.parquet"
    with psycopg.connect(os.environ["DATABASE_URL"].replace("postgres://", "postgresql://")) as conn, \
            pq.ParquetWriter(path, schema, compression="zstd") as writer:
        cursor = conn.cursor()
        batch = []
        sql = ("COPY (SELECT id, submission_id, kind, content->>'text', tokens FROM annotation_record"
               " WHERE status = 'accepted' ORDER BY id) TO STDOUT")
        with cursor.copy(sql) as copy:
            copy.set_types(["int8", "int8", "text", "text", "int8"])
            for row in copy.rows():
                batch.append(row)
                if len(batch) == 2000:
                    writer.write_table(pa.Table.from_pylist([dict(zip(schema.names, r)) for r in batch], schema=schema))
                    count, batch = count + len(batch), []
            if batch:
                writer.write_table(pa.Table.from_pylist([dict(zip(schema.names, r)) for r in batch], schema=schema))
                count += len(batch)
    return {"seconds": time.perf_counter() - started, "records": count}


def phase_snapshot(out: Path) -> dict:
    os.environ.setdefault("OCCIPORTAL_DATA_DIR", str(out / "data"))
    django_setup(os.environ["DATABASE_URL"])
    from training.models import Snapshot
    from training.services.snapshot_build import snapshot_build
    from training.services.snapshots import snapshot_create

    Snapshot.objects.filter(name="bench").delete()  # --reuse: start from version 1 again
    started = time.perf_counter()
    snapshot = snapshot_create(name="bench", license="CC-BY-4.0", parameters={"languages": ["de", "fr"]}, enqueue=False)
    snapshot = snapshot_build(snapshot_id=snapshot.pk)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "records": snapshot.totals()["records"], "snapshot": snapshot.label,
            "status": snapshot.status, "failure": snapshot.failure,
            "shards": len(list(Path(snapshot.uri).rglob("*.parquet"))) if snapshot.uri else 0}


def run_phase(phase: str, smoke: bool) -> dict:
    """Run ``phase`` in a fresh process on the database in DATABASE_URL; its figures, or exit with its error."""
    result = subprocess.run([sys.executable, __file__, "--phase", phase, *(["--smoke"] if smoke else [])], cwd=ROOT,
                            capture_output=True, text=True)  # fmt: skip
    if result.returncode:
        sys.exit(f"{phase} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_RECORDS} records, to see that it runs")
    parser.add_argument("--phase", choices=["baseline", "snapshot"], help=argparse.SUPPRESS)
    parser.add_argument("--reuse", action="store_true", help="keep the database a previous run filled")
    args = parser.parse_args()
    out = out_dir(args.smoke)
    if args.phase:
        figures = phase_baseline(out) if args.phase == "baseline" else phase_snapshot(out)
        figures["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        print(json.dumps(figures))
        return

    records = SMOKE_RECORDS if args.smoke else args.records
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if args.reuse:
        os.environ["DATABASE_URL"] = database_url(DB, smoke=args.smoke)
    else:
        django_setup(fresh_database(DB, smoke=args.smoke))
        fill(records)
    report = {"records": records, "cpus": os.cpu_count(), "fill_seconds": round(time.perf_counter() - started, 1)}
    errors = Errors()
    for phase in ("baseline", "snapshot"):
        figures = run_phase(phase, args.smoke)
        figures["records_per_s"] = round(figures["records"] / figures["seconds"])
        figures["seconds"] = round(figures["seconds"], 2)
        report[phase] = figures
        print(f"{phase}: {json.dumps(figures)}", flush=True)
    errors.check(report["baseline"]["records"] == records, "baseline: not every record read")
    snapshot = report["snapshot"]
    if errors.check(snapshot["status"] == "ready", f"snapshot build: {snapshot['status']}: {snapshot['failure'][:300]}"):
        errors.check(0 < snapshot["records"] <= records and snapshot["shards"] > 0, "snapshot build: no records or no shards")
    report["speed_ratio_snapshot_to_baseline"] = round(snapshot["records_per_s"] / report["baseline"]["records_per_s"], 2)
    report["target_speed_ratio"] = 0.5
    finish(report, errors, smoke=args.smoke)


if __name__ == "__main__":
    main()
