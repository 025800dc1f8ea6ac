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
from pathlib import Path

from fresh_database import fresh_database

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
DB = "occiportal_bench_snapshot"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DB}"
PG = DATABASE_URL.replace("postgres://", "postgresql://")
WORDS = {
    "de": "der die und in den von zu das mit sich des auf für ist im dem nicht ein eine als auch es an werden aus er hat dass sie nach wird bei einer um am sind noch wie Stadt Wasser Haus Schule Arbeit Menschen Jahre Zeit".split(),
    "fr": "le de un être et à il avoir ne je son que se qui ce dans en du elle au pour pas vous par sur faire plus dire me on mon lui nous comme mais ville maison école travail gens années temps".split(),
}


def fill(records: int) -> None:
    """Partner, two submissions, ``records`` accepted records, COPY'd in."""
    import psycopg
    import xxhash

    rng = random.Random(records)
    with psycopg.connect(PG) as conn:
        partner = conn.execute("INSERT INTO occiportal_partner (slug, name, created_at) VALUES ('bench', 'Bench', now()) RETURNING id").fetchone()[0]
        submissions = {}
        for code in WORDS:
            language = conn.execute("SELECT id FROM occiportal_language WHERE code = %s", [code]).fetchone()[0]
            submissions[code] = (language, conn.execute(
                "INSERT INTO annotation_submission (uuid, partner_id, language_id, kind, license, source, consent, file, original_name,"
                " size_bytes, status, failure, chunks_total, chunks_done, records_read, records_accepted, records_rejected,"
                " exact_duplicates, near_duplicates, language_mismatches, pii_redactions, tokens, errors, rejection_reasons, quality, created_at)"
                " VALUES (gen_random_uuid(), %s, %s, 'pretraining', 'CC-BY-4.0', 'bench', true, 'bench.jsonl', 'bench.jsonl',"
                " 0, 'ready', '', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '[]', '{}', '{}', now()) RETURNING id",
                [partner, language]).fetchone()[0])
        columns = ("submission_id, line, origin, language_id, kind, content, external_id, meta, content_hash, status,"
                   " detected_language, language_mismatch, pii_redactions, tokens, quality, created_at")
        with conn.cursor().copy(f"COPY annotation_record ({columns}) FROM STDIN") as copy:
            for i in range(records):
                code = "de" if i % 3 else "fr"
                words = WORDS[code]
                text = " ".join(rng.choice(words) for _ in range(rng.randint(40, 120))) + f" {i}."
                language, submission = submissions[code]
                copy.write_row((submission, i + 1, "", language, "pretraining", json.dumps({"text": text}), "", "{}",
                                xxhash.xxh3_128_hexdigest(text.encode()), "accepted", code, False, 0, len(text.split()), "{}",
                                "2026-01-01T00:00:00Z"))
    # VACUUM, not just ANALYZE: otherwise whichever phase runs first sets the
    # fresh rows' hint bits, rewriting every page, and pays for both.
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) annotation_record")


def phase_baseline() -> dict:
    import psycopg
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("record_id", pa.int64()), ("submission_id", pa.int64()), ("kind", pa.string()),
                        ("text", pa.string()), ("tokens", pa.int64())])
    started = time.perf_counter()
    count = 0
    path = OUT / "baseline.parquet"
    with psycopg.connect(PG) as conn, pq.ParquetWriter(path, schema, compression="zstd") as writer:
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


def phase_snapshot() -> dict:
    os.environ["DATABASE_URL"] = DATABASE_URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "occiportal.settings")
    os.environ.setdefault("OCCIPORTAL_DATA_DIR", str(OUT / "data"))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from training.services.snapshot_build import snapshot_build
    from training.services.snapshots import snapshot_create

    from training.models import Snapshot

    Snapshot.objects.filter(name="bench").delete()  # --reuse: start from version 1 again
    started = time.perf_counter()
    snapshot = snapshot_create(name="bench", license="CC-BY-4.0", parameters={"languages": ["de", "fr"]}, enqueue=False)
    snapshot = snapshot_build(snapshot_id=snapshot.pk)
    seconds = time.perf_counter() - started
    assert snapshot.status == "ready", snapshot.failure
    return {"seconds": seconds, "records": snapshot.totals()["records"], "snapshot": snapshot.label,
            "shards": len(list(Path(snapshot.uri).rglob("*.parquet")))}


def run_phase(phase: str) -> dict:
    result = subprocess.run([sys.executable, __file__, "--phase", phase], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "DATABASE_URL": DATABASE_URL})
    if result.returncode:
        sys.exit(f"{phase} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--phase")
    parser.add_argument("--reuse", action="store_true", help="keep the database a previous run filled")
    args = parser.parse_args()
    if args.phase:
        figures = phase_baseline() if args.phase == "baseline" else phase_snapshot()
        figures["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        print(json.dumps(figures))
        return

    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if not args.reuse:
        fresh_database(DB)
        fill(args.records)
    report = {"records": args.records, "cpus": os.cpu_count(), "fill_seconds": round(time.perf_counter() - started, 1)}
    for phase in ("baseline", "snapshot"):
        figures = run_phase(phase)
        figures["records_per_s"] = round(figures["records"] / figures["seconds"])
        figures["seconds"] = round(figures["seconds"], 2)
        report[phase] = figures
        print(f"{phase}: {json.dumps(figures)}", flush=True)
    report["speed_ratio_snapshot_to_baseline"] = round(report["snapshot"]["records_per_s"] / report["baseline"]["records_per_s"], 2)
    report["target_speed_ratio"] = 0.5
    print(json.dumps(report))


if __name__ == "__main__":
    main()
