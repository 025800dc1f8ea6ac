"""Snapshot benchmark: the real build vs COPY-out + pyarrow, on PostgreSQL.

Fills a fresh database with ``--records`` accepted pretraining records (two
languages, COPY'd straight in, their text in chunk files of CHUNK_RECORDS as
ingest writes them: ingest has its own benchmark), then, each in
a fresh process:

- baseline: scan the records' chunk files (line, text) with pyarrow and
  write the rows to one Parquet file, 2,000-row batches;
- snapshot: ``snapshot_create`` + ``snapshot_build`` exactly as the task
  calls it (licence checks at creation and build, near-duplicate reduction,
  edits, contamination check, split, shards, card, manifest; no mixture, so
  no estimate).

The clock starts once the snapshot phase's process has imported the portal
and pyarrow has loaded pandas (which it does on its first conversion of
Python values, half a second): a worker pays that once, not per build.

Prints records/s and peak RSS (MiB) of each, the speed ratio, and, last, one
JSON object with everything. Target: the build at least half the baseline's
speed; memory bounded by a shard, not by the snapshot. ``--repeat N`` runs
each phase N times, alternating, and reports the median run of each (the
ratio is theirs) with every run's seconds. ``--reuse`` measures
again on the database a run filled; ``--database`` names another one, to run
beside another checkout (before and after a change, say).

    .venv/bin/python bench/snapshot.py [--records 1000000] [--repeat 5] [--reuse] [--database NAME]
"""

import argparse
import json
import os
import random
import resource
import shutil
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
CHUNK_RECORDS = 20_000  # per language: about what a 64 MB ingest chunk holds
ROW_GROUP_RECORDS = 2_000  # an ingest batch
WORDS = {
    "de": "der die und in den von zu das mit sich des auf für ist im dem nicht ein eine als auch es an werden aus er hat dass sie nach wird bei einer um am sind noch wie Stadt Wasser Haus Schule Arbeit Menschen Jahre Zeit".split(),
    "fr": "le de un être et à il avoir ne je son que se qui ce dans en du elle au pour pas vous par sur faire plus dire me on mon lui nous comme mais ville maison école travail gens années temps".split(),
}


def fill(records: int) -> None:
    """Partner, two submissions (ORM), ``records`` accepted records (COPY, columns from the model), chunk files."""
    import xxhash
    from django.core.files.storage import default_storage
    from django.db import connection

    from annotation.corpus.record_files import RecordFileWriter, file_name
    from annotation.models import IngestChunk, Record, Submission
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
    # Per language: the open chunk's file, its rows not yet written (a row group), its first line.
    files = {code: RecordFileWriter() for code in WORDS}
    pending: dict[str, list] = {code: [] for code in WORDS}
    firsts = {code: 1 for code in WORDS}

    chunks: list[IngestChunk] = []  # created after the COPY, which holds the connection

    def chunk_done(code: str) -> None:
        submission, writer = submissions[code], files[code]
        writer.add(pending[code])
        index = sum(c.submission_id == submission.pk for c in chunks)
        name = writer.save(default_storage, file_name(submission.pk, index))
        chunks.append(IngestChunk(submission=submission, index=index, path="bench.jsonl", start=0, end=0,
                                  first_line=firsts[code], status="done", records_file=name))  # fmt: skip
        files[code], pending[code] = RecordFileWriter(), []

    def rows():
        for i in range(records):
            code = "de" if i % 3 else "fr"
            words = WORDS[code]
            text = " ".join(rng.choice(words) for _ in range(rng.randint(40, 120))) + f" {i}."
            submission = submissions[code]
            if not files[code].rows and not pending[code]:
                firsts[code] = i + 1
            pending[code].append((i + 1, text, {}))
            if len(pending[code]) == ROW_GROUP_RECORDS:
                files[code].add(pending[code])
                pending[code] = []
            yield {"submission_id": submission.pk, "line": i + 1, "language_id": submission.language_id,
                   "kind": "pretraining", "content": {}, "content_hash": xxhash.xxh3_128_hexdigest(text.encode()),
                   "status": "accepted", "detected_language": code, "tokens": len(text.split())}  # fmt: skip
            if files[code].rows == CHUNK_RECORDS:
                chunk_done(code)
        for code in WORDS:
            if files[code].rows or pending[code]:
                chunk_done(code)

    copy_rows(Record, rows())
    IngestChunk.objects.bulk_create(chunks)
    # VACUUM, not just ANALYZE: otherwise whichever phase runs first sets the
    # fresh rows' hint bits, rewriting every page, and pays for both.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) annotation_record")


def out_dir(smoke: bool) -> Path:
    return ROOT / "bench" / "out" / ("snapshot-smoke" if smoke else "snapshot")


def data_dir(out: Path) -> Path:
    """The portal's data folder for the benchmark: the fill writes the chunk files there, the build reads them."""
    return out / "data"


def phase_baseline(out: Path) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("line", pa.int64()), ("text", pa.string())])
    started = time.perf_counter()
    count = 0
    with pq.ParquetWriter(out / "baseline.parquet", schema, compression="zstd") as writer:
        for path in sorted((data_dir(out) / "media" / "records").rglob("*.parquet")):
            for batch in pq.ParquetFile(path).iter_batches(batch_size=2000, columns=schema.names):
                writer.write_table(pa.Table.from_batches([batch]))
                count += batch.num_rows
    return {"seconds": time.perf_counter() - started, "records": count}


def phase_snapshot(out: Path) -> dict:
    os.environ.setdefault("OCCIPORTAL_DATA_DIR", str(data_dir(out)))
    django_setup(os.environ["DATABASE_URL"])
    from training.models import Snapshot
    from training.services.snapshot_build import snapshot_build
    from training.services.snapshots import snapshot_create

    Snapshot.objects.filter(name="bench").delete()  # --reuse: start from version 1 again
    # pyarrow imports pandas on its first conversion of Python values (half a
    # second): once per worker process, not per build, like the imports above.
    import pyarrow as pa

    pa.array([0])
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
    parser.add_argument("--repeat", type=int, default=1, help="runs of each phase, alternating; medians reported")
    parser.add_argument("--database", default=DB, help="the database's name, to run beside another checkout's")
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
        os.environ["DATABASE_URL"] = database_url(args.database, smoke=args.smoke)
    else:
        shutil.rmtree(data_dir(out), ignore_errors=True)
        os.environ["OCCIPORTAL_DATA_DIR"] = str(data_dir(out))
        django_setup(fresh_database(args.database, smoke=args.smoke))
        fill(records)
    report = {"records": records, "cpus": os.cpu_count(), "fill_seconds": round(time.perf_counter() - started, 1)}
    errors = Errors()
    runs: dict[str, list[dict]] = {"baseline": [], "snapshot": []}
    for _ in range(args.repeat):  # alternating, so that both see the same load on a shared machine
        for phase in runs:
            figures = run_phase(phase, args.smoke)
            figures["records_per_s"] = round(figures["records"] / figures["seconds"])
            figures["seconds"] = round(figures["seconds"], 2)
            runs[phase].append(figures)
            print(f"{phase}: {json.dumps(figures)}", flush=True)
    for phase, figures in runs.items():  # the median run of each
        report[phase] = sorted(figures, key=lambda f: f["seconds"])[len(figures) // 2]
        report[phase]["runs_seconds"] = [f["seconds"] for f in figures]
    errors.check(all(f["records"] == records for f in runs["baseline"]), "baseline: not every record read")
    for snapshot in runs["snapshot"]:
        if errors.check(snapshot["status"] == "ready",
                        f"snapshot build: {snapshot['status']}: {snapshot['failure'][:300]}"):
            errors.check(0 < snapshot["records"] <= records and snapshot["shards"] > 0,
                         "snapshot build: no records or no shards")
    snapshot = report["snapshot"]
    report["speed_ratio_snapshot_to_baseline"] = round(snapshot["records_per_s"] / report["baseline"]["records_per_s"], 2)
    report["target_speed_ratio"] = 0.5
    finish(report, errors, smoke=args.smoke)


if __name__ == "__main__":
    main()
