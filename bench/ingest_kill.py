"""Issue 11's fault test: kill -9 the whole ingest worker mid-upload, start another, time until the upload is ready.

A fresh PostgreSQL database, a real Celery worker (prefork, 2 processes,
``default`` queue) and an upload of ``--chunks`` chunks. Once all but
``--left`` chunks are done the worker's process group gets SIGKILL: the
chunks it held stay unacknowledged in Redis. A new worker with an embedded
beat (the sweepers) is started at once; the figure is the time from the kill
to "ready". Without a sweeper it was the broker's visibility timeout (3,600 s).

    .venv/bin/python bench/ingest_kill.py [--chunks 14] [--left 4] [--chunk-mib 1]
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from fresh_database import fresh_database

from ingest import generate
from outcome import Errors, finish

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "ingest_kill"
DB = "occiportal_bench_kill"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=14)
    parser.add_argument("--left", type=int, default=4)
    parser.add_argument("--chunk-mib", type=float, default=1.0)
    parser.add_argument("--redis-db", type=int, default=8 + int(os.environ.get("OCCIPORTAL_TEST_SLOT", "0")))
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--smoke", action="store_true", help="4 small chunks, a 3 s stall and a 2 s sweep: seconds, no figure")
    args = parser.parse_args()
    stall, sweep = ("3", "2") if args.smoke else ("300", "60")  # the production defaults, unless smoke
    if args.smoke:
        args.chunks, args.left, args.chunk_mib, args.timeout = 4, 2, 0.0625, 120

    OUT.mkdir(parents=True, exist_ok=True)
    chunk_bytes = int(args.chunk_mib * 1024**2)
    os.environ.update(
        DATABASE_URL=fresh_database(DB), OCCIPORTAL_DATA_DIR=str(OUT / "data"), DJANGO_SETTINGS_MODULE="occiportal.settings",
        CELERY_BROKER_URL=f"redis://127.0.0.1:6379/{args.redis_db}",
        OCCIPORTAL_MIN_CHUNK_BYTES=str(chunk_bytes), OCCIPORTAL_CHUNK_BYTES=str(chunk_bytes),
        DJANGO_SUPERUSER_PASSWORD="bench-only-password",
        OCCIPORTAL_CHUNK_STALL_SECONDS=stall, OCCIPORTAL_INGEST_SWEEP_SECONDS=sweep,
    )  # fmt: skip
    upload = OUT / "upload.jsonl"
    generate(upload, records=int(args.chunks * chunk_bytes / 1100), seed=11)  # about 1.1 kB a record
    manage("createsuperuser", "--noinput", "--username", "bench", "--email", "bench@example.org")
    manage("create_partner", "bench", "Bench Archive", "--member", "bench")
    subprocess.run([sys.executable, "-m", "celery", "-A", "occiportal", "purge", "-f"], cwd=ROOT, check=True,
                   capture_output=True)  # fmt: skip

    first = worker("first")
    manage("submit", str(upload), "--partner", "bench", "--language", "de", "--kind", "pretraining", "--license", "CC0-1.0")
    total = wait_for(lambda: (row := state()) and row[2] > 0 and row[2], args.timeout)
    wait_for(lambda: state()[1] >= total - args.left, args.timeout)
    os.killpg(first.pid, signal.SIGKILL)
    killed_at, (_, done_at_kill, _) = time.monotonic(), state()
    first.wait()

    second = worker("second", "-B", "--schedule", str(OUT / "celerybeat-schedule"))
    try:
        status = wait_for(lambda: state()[0] in ("ready", "failed") and state()[0], args.timeout)
        seconds = time.monotonic() - killed_at
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait()
    errors = Errors()
    errors.check(status == "ready", f"the submission ended {status}, not ready")
    report = {"chunks": total, "done_at_kill": done_at_kill, "status": status,
              "seconds_from_kill_to_finished": round(seconds, 1), "baseline_seconds": 3600}  # fmt: skip
    finish(report, errors, smoke=args.smoke)


def manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, check=True, capture_output=True)


def worker(name: str, *extra: str) -> subprocess.Popen:
    log = (OUT / f"worker-{name}.log").open("w")
    command = [sys.executable, "-m", "celery", "-A", "occiportal", "worker", "-Q", "default", "--concurrency", "2",
               "--hostname", f"{name}@bench", "--loglevel", "INFO", *extra]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def state() -> tuple[str, int, int] | None:
    url = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://")
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT status, chunks_done, chunks_total FROM annotation_submission").fetchone()


def wait_for(check, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.2)
    raise SystemExit(f"gave up after {timeout} s: {state()}")


if __name__ == "__main__":
    main()
