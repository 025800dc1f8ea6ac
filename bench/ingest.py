"""Ingest benchmark: the real pipeline vs parse + COPY, on PostgreSQL.

Generates a multilingual JSONL file (100,000 records, about 100 MB, and a
10 MB one), then for each file runs, each in a fresh process:

- baseline: read the file, ``json.loads`` every line, COPY (text, line)
  rows into a PostgreSQL table — no checks at all (the parse + COPY floor);
- pipeline: ``submission_create`` + the ingest services (plan, every chunk,
  finish) exactly as the Celery tasks call them, with ``--workers``
  processes working on chunks in parallel; ``--workers-compare 1,2`` runs
  the same upload once per count instead, and reports the speed ratio of
  the last count to the first.

Prints records/s (wall), records/s per core (records over the CPU seconds
of the benchmark process and its chunk processes; PostgreSQL's own CPU is
not counted), MB/s and peak RSS (MiB) of each (for the pipeline also apart:
``peak_rss_own_mib``, the process that plans and finishes, near-duplicate
marking included, and ``peak_rss_chunk_mib``, its largest chunk process),
the peak RSS ratio of the large file's pipeline to the small one's, the time ratio
pipeline/baseline, PostgreSQL and record-file bytes per record after the
pipeline, the old and new check paths per core side by side (bench/checks.py
run against ``--checks-baseline-ref``, the tree before the batched checks),
datatrove's quality filters against this tree's checks on the small file's
texts where datatrove and spaCy are importable (not project dependencies),
and, last, one JSON object with everything. A submission that is not ready
at the end, or accepts no record, is an error: named, and the exit status 1.

    .venv/bin/python bench/ingest.py [--records 100000] [--workers 2 | --workers-compare 1,2] [--repeats 1] [--database NAME]
    .venv/bin/python bench/ingest.py --smoke   # 400 records: does it run
"""

import argparse
import importlib.util
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from fresh_database import fresh_database
from outcome import Errors, finish

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
DB = "occiportal_bench"
SMOKE_RECORDS = 400
# The parent of the merge of the batched checks (branch 'checks'): the per-record check path.
CHECKS_BASELINE_REF = "1f8c4e1^1"

WORDS = {
    "de": "der die und in den von zu das mit sich des auf für ist im dem nicht ein eine als auch es an werden aus er hat dass sie nach wird bei einer um am sind noch wie einem über einen so zum war haben nur oder aber vor zur bis mehr durch man sehr Stadt Wasser Haus Schule Arbeit Menschen Jahre Zeit".split(),
    "fr": "le de un être et à il avoir ne je son que se qui ce dans en du elle au pour pas que vous par sur faire plus dire me on mon lui nous comme mais pouvoir avec tout y aller voir en bien où sans ville maison école travail gens années temps".split(),
    "pl": "i w nie na się z do to że jest o jak co ale po tak za od już go jego tym czy przez dla tylko może być jej gdy pan było może miasto dom szkoła praca ludzie lata czas woda".split(),
    "es": "de la que el en y a los se del las un por con no una su para es al lo como más pero sus le ya o este sí porque esta entre cuando muy sin sobre ciudad casa escuela trabajo gente años tiempo agua".split(),
}


def generate(path: Path, records: int, seed: int) -> None:
    rng = random.Random(seed)
    languages = list(WORDS)
    with path.open("w", encoding="utf-8") as out:
        for i in range(records):
            words = WORDS[languages[i % len(languages)]]
            sentences = []
            for _ in range(rng.randint(13, 21)):
                sentence = " ".join(rng.choice(words) for _ in range(rng.randint(8, 16)))
                sentences.append(sentence.capitalize() + ".")
            out.write(json.dumps({"id": i, "text": " ".join(sentences), "meta": {"n": i}}, ensure_ascii=False) + "\n")


def phase_baseline(path: Path) -> dict:
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(os.environ["DATABASE_URL"].replace("postgres://", "postgresql://")) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_rows")
        conn.execute("CREATE UNLOGGED TABLE bench_rows (line bigint, text text)")
        with conn.cursor().copy("COPY bench_rows (line, text) FROM STDIN") as copy, path.open("rb") as f:
            for line, raw in enumerate(f, 1):
                copy.write_row((line, json.loads(raw)["text"]))
        count = conn.execute("SELECT count(*) FROM bench_rows").fetchone()[0]
        conn.execute("DROP TABLE bench_rows")
    return {"seconds": time.perf_counter() - started, "records": count}


def phase_datatrove(path: Path) -> dict:
    """datatrove's Gopher, C4 and FineWeb quality filters vs this tree's checks, records/s per core on the same texts."""
    from checks import run_new
    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        C4QualityFilter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter,
    )

    languages = list(WORDS)
    with path.open("rb") as f:
        docs = [(languages[i % len(languages)], json.loads(raw)["text"]) for i, raw in enumerate(f)]
    filters = {code: [GopherRepetitionFilter(language=code), GopherQualityFilter(language=code),
                      C4QualityFilter(language=code), FineWebQualityFilter(language=code)] for code in languages}

    def run_datatrove(sample):
        return [[f.filter(Document(text=text, id=str(i))) for f in filters[code]] for i, (code, text) in enumerate(sample)]

    run_datatrove(docs[:50]), run_new(docs[:50])  # tokenizers and models loaded
    started = cpu_seconds()
    run_datatrove(docs)
    datatrove_cpu, started = cpu_seconds() - started, cpu_seconds()
    run_new(docs)
    checks_cpu = cpu_seconds() - started
    return {"records": len(docs), "datatrove_records_per_core_s": round(len(docs) / datatrove_cpu),
            "checks_records_per_core_s": round(len(docs) / checks_cpu)}


def _django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "occiportal.settings")
    os.environ.setdefault("OCCIPORTAL_DATA_DIR", str(OUT / "data"))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _process_chunk(chunk_id: int) -> bool:
    from annotation.services import ingest

    return ingest.ingest_chunk_process(chunk_id=chunk_id)


def _init_worker():
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        conn.close()


def phase_pipeline(path: Path, workers: int) -> dict:
    _django()
    from multiprocessing import get_context

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.files import File
    from django.db import connection

    from annotation.models import Submission
    from annotation.services import ingest
    from annotation.services.submissions import submission_create
    from occiportal.models import Language, Partner

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE annotation_record, annotation_ingestchunk, annotation_submission CASCADE")
    # The signatures and band index of earlier runs name records the TRUNCATE removed.
    shutil.rmtree(settings.NEAR_DUPLICATE_INDEX_DIR, ignore_errors=True)
    shutil.rmtree(Path(settings.MEDIA_ROOT) / "signatures", ignore_errors=True)
    partner, _ = Partner.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    user, _ = get_user_model().objects.get_or_create(username="bench")
    with path.open("rb") as f:
        submission = submission_create(
            uploader=user, partner=partner, language=Language.objects.get(code="de"), kind="pretraining",
            license="CC-BY-4.0", source="benchmark", consent=True, file=File(f, name=path.name),
        )
    started, cpu_started = time.perf_counter(), cpu_seconds()
    chunk_ids = ingest.ingest_start(submission_id=submission.pk)
    connection.close()
    with get_context("fork").Pool(workers, initializer=_init_worker) as pool:
        list(pool.imap_unordered(_process_chunk, chunk_ids))
    ingest.ingest_finish(submission_id=submission.pk)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
    submission = Submission.objects.get(pk=submission.pk)
    return {"seconds": seconds, "cpu_seconds": cpu, "records": submission.records_accepted, "chunks": submission.chunks_total,
            "status": submission.status, "language_mismatches": submission.language_mismatches,
            **bytes_per_record(submission)}


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its children that have been waited for (the pool's)."""
    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


# The bands are the near-duplicate index's, measured on their own.
_PG_BYTES = """
SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c
WHERE c.relkind = 'r' AND c.relname LIKE 'annotation\\_%' AND c.relname <> 'annotation_recordband'
"""


def bytes_per_record(submission) -> dict:
    """PostgreSQL (annotation tables with their TOAST and indexes) and record-file bytes per accepted record."""
    from django.core.files.storage import default_storage
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(_PG_BYTES)
        pg = cursor.fetchone()[0]
    files = submission.chunks.exclude(records_file="").values_list("records_file", flat=True)
    stored = sum(default_storage.size(name) for name in files)
    records = max(submission.records_accepted, 1)
    return {"pg_bytes_per_record": round(pg / records), "store_bytes_per_record": round(stored / records)}


def run_phase(phase: str, path: Path, workers: int) -> dict:
    """Run a phase in a fresh process on the database in DATABASE_URL; add its peak RSS (itself and its children)."""
    result = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--file", str(path), "--workers", str(workers)],
        cwd=ROOT, capture_output=True, text=True,
    )
    if result.returncode:
        sys.exit(f"{phase} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def summarise(results: list[dict], records: int, megabytes: float) -> dict:
    """Medians of one phase's repeats: seconds, records/s, records/s per core (where CPU was measured), MB/s, peak RSS."""
    seconds = statistics.median(r["seconds"] for r in results)
    summary = {"seconds": round(seconds, 2), "records_per_s": round(records / seconds),
               "mb_per_s": round(megabytes / seconds, 2)}
    if "cpu_seconds" in results[0]:
        summary["records_per_core_s"] = round(records / statistics.median(r["cpu_seconds"] for r in results))
    peaks = {name: max(r[name] for r in results) for name in results[0] if name.startswith("peak_rss")}
    return {**summary, **peaks, "records": results[-1]["records"]}


def check_paths(ref: str, smoke: bool) -> dict:
    """bench/checks.py's old (``ref``) and new check paths, records/s per core, on its own ~1 kB texts.

    A clone without ``ref`` (a shallow CI checkout) gets a sentence saying so instead of the figures.
    """
    if subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=ROOT,
                      capture_output=True).returncode:
        return {"baseline_ref": ref, "skipped": "the ref is not in this clone"}
    command = [sys.executable, str(ROOT / "bench" / "checks.py"), "--baseline-ref", ref]
    result = subprocess.run(command + (["--smoke"] if smoke else []), cwd=ROOT, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"bench/checks.py failed:\n{result.stderr[-3000:]}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    return {name: figures[name] for name in ("baseline_ref", "records", "old_records_per_s", "new_records_per_s", "speedup")}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--workers-compare", help="chunk process counts to run the same upload with, e.g. 1,2")
    parser.add_argument("--checks-baseline-ref", default=CHECKS_BASELINE_REF)
    parser.add_argument("--database", default=DB, help="benchmark database name (dropped and re-created)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--phase")
    parser.add_argument("--file")
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_RECORDS} records: does it run, no figures to read")
    args = parser.parse_args()
    if args.smoke:
        args.records = SMOKE_RECORDS

    if args.phase:
        phases = {"baseline": phase_baseline, "datatrove": phase_datatrove,
                  "pipeline": lambda path: phase_pipeline(path, args.workers)}
        figures = phases[args.phase](Path(args.file))
        # The phase's own process (planning, the finish's near-duplicate marking) and its largest chunk process.
        own, children = (resource.getrusage(w).ru_maxrss / 1024 for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
        figures |= {"peak_rss_mib": round(max(own, children), 1), "peak_rss_own_mib": round(own, 1),
                    "peak_rss_chunk_mib": round(children, 1)}
        print(json.dumps(figures))
        return

    OUT.mkdir(parents=True, exist_ok=True)
    os.environ["DATABASE_URL"] = fresh_database(args.database, smoke=args.smoke)
    counts = [int(n) for n in args.workers_compare.split(",")] if args.workers_compare else [args.workers]
    errors = Errors()
    report = {"records": args.records, "workers": counts, "cpus": os.cpu_count(), "files": {}}
    for label, records in (("small", max(args.records // 10, 1)), ("large", args.records)):
        path = OUT / f"ingest-{records}.jsonl"
        if not path.exists():
            generate(path, records, seed=records)
        megabytes = path.stat().st_size / 1e6
        runs = {"baseline": [], **{n: [] for n in counts}}
        for _ in range(args.repeats):  # interleaved, so every phase sees the same machine
            runs["baseline"].append(run_phase("baseline", path, 1))
            for n in counts:
                runs[n].append(run_phase("pipeline", path, n))
        for result in (r for n in counts for r in runs[n]):
            errors.check(result["status"] == "ready", f"{label} file: submission {result['status']}")
            errors.check(result["records"] > 0, f"{label} file: no record accepted")
        last = runs[counts[-1]][-1]
        entry = {"megabytes": round(megabytes, 1), "baseline": summarise(runs["baseline"], records, megabytes),
                 "pipeline": {n: summarise(runs[n], records, megabytes) for n in counts},
                 "pg_bytes_per_record": last["pg_bytes_per_record"],
                 "store_bytes_per_record": last["store_bytes_per_record"]}
        entry["time_ratio_pipeline_to_baseline"] = round(
            entry["pipeline"][counts[-1]]["seconds"] / entry["baseline"]["seconds"], 2)
        if len(counts) > 1:
            entry[f"speed_ratio_{counts[-1]}_to_{counts[0]}_workers"] = round(
                entry["pipeline"][counts[0]]["seconds"] / entry["pipeline"][counts[-1]]["seconds"], 2)
        report["files"][label] = entry
        print(f"{label}: {json.dumps(entry)}", flush=True)
    small, large = report["files"]["small"], report["files"]["large"]
    report["pipeline_peak_rss_ratio_large_to_small"] = round(
        large["pipeline"][counts[-1]]["peak_rss_mib"] / small["pipeline"][counts[-1]]["peak_rss_mib"], 2)
    report["target_time_ratio"] = 3.0
    report["pg_bytes_per_record"] = large["pg_bytes_per_record"]
    report["target_pg_bytes_per_record"] = 400
    report["check_paths_per_core"] = check_paths(args.checks_baseline_ref, args.smoke)
    print(f"check paths: {json.dumps(report['check_paths_per_core'])}", flush=True)
    # Its Gopher and C4 filters split words with spaCy for these languages.
    if importlib.util.find_spec("datatrove") and importlib.util.find_spec("spacy"):
        report["datatrove"] = run_phase("datatrove", OUT / f"ingest-{max(args.records // 10, 1)}.jsonl", 1)
    else:
        report["datatrove"] = "not importable (datatrove and spaCy are not in this environment)"
    print(f"datatrove: {json.dumps(report['datatrove'])}", flush=True)
    finish(report, errors, smoke=args.smoke)

if __name__ == "__main__":
    main()
