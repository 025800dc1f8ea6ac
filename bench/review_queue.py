"""Review queue benchmark (bench/queue of issue 3; not queue.py, which would shadow the standard library): 32 annotator clients over HTTP against gunicorn and PostgreSQL.

Builds a fresh database with one German instruction queue (overlap 2) of
``--records`` records and ``--clients`` certified annotators with API
tokens, starts gunicorn, and lets every client loop "next item → accept"
through the REST API for ``--seconds``. Then prints requests/s, the
p50/p95/p99 latency of next-item (claim) and submit, and the number of
over-assigned records (more live leases + answers than the overlap, or one
annotator twice on a record), which must be 0; last, one JSON line.

    .venv/bin/python bench/review_queue.py [--clients 32] [--seconds 30] [--records 20000] [--workers 4]
"""

import argparse
import hashlib
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from fresh_database import fresh_database

ROOT = Path(__file__).resolve().parent.parent
DB = "occiportal_bench_queue"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DB}"
PORT = 8765


def seed(records: int, clients: int) -> tuple[int, list[str]]:
    """One queue, its records and its annotators; returns the queue id and the annotators' tokens."""
    import uuid

    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from annotation.models import Record, Submission
    from annotation.services.review import certification_grant, queue_create
    from occiportal.models import Language, Partner

    german = Language.objects.get(code="de")
    staff = get_user_model().objects.create_user("bench-staff", is_staff=True, is_superuser=True)
    partner = Partner.objects.create(slug="bench", name="Bench")
    submission = Submission.objects.create(
        uuid=uuid.uuid4(), partner=partner, language=german, kind="instruction", license="CC0-1.0",
        source="bench", consent=True, file="bench.jsonl", original_name="bench.jsonl", status="ready",
    )
    Record.objects.bulk_create(
        [Record(submission=submission, line=i, language=german, kind="instruction",
                content={"prompt": f"Frage {i}?", "response": f"Antwort {i}."},
                content_hash=hashlib.md5(str(i).encode()).hexdigest()) for i in range(1, records + 1)],
        batch_size=5000,
    )
    queue = queue_create(creator=staff, language=german, kind="instruction", name="Bench", overlap=2)
    tokens = []
    for i in range(clients):
        user = get_user_model().objects.create_user(f"annotator-{i:02d}")
        certification_grant(granter=staff, user=user, language_code="de")
        tokens.append(Token.objects.create(user=user).key)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # fresh tables: give the planner the statistics autovacuum would
    return queue.pk, tokens


def start_server(workers: int) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "DJANGO_SETTINGS_MODULE": "occiportal.settings",
           "OCCIPORTAL_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "occiportal.wsgi", "-w", str(workers), "--threads", "8",
         "-b", f"127.0.0.1:{PORT}", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=2)
            conn.request("GET", "/api/languages/")
            conn.getresponse().read()
            return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not start")


def client(queue_id, token, until, timings, counts):
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def call(kind, path, body=None):
        started = time.perf_counter()
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        timings[kind].append(time.perf_counter() - started)
        counts[response.status] = counts.get(response.status, 0) + 1
        return response.status, data

    while time.monotonic() < until:
        status, data = call("claim", f"/api/review/queues/{queue_id}/claim/")
        if status != 201:
            break
        item = json.loads(data)
        call("submit", f"/api/review/assignments/{item['id']}/submit/", json.dumps({"action": "accept"}))


def over_assigned() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT count(*) FROM (
                 SELECT record_id FROM annotation_assignment
                 WHERE status = 'submitted' OR (status = 'leased' AND leased_until > now())
                 GROUP BY record_id HAVING count(*) > 2
                 UNION ALL
                 SELECT record_id FROM annotation_assignment GROUP BY record_id, annotator_id HAVING count(*) > 1
               ) AS bad"""
        )
        return cursor.fetchone()[0]


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    return round(1000 * values[min(len(values) - 1, int(p / 100 * len(values)))], 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    fresh_database(DB)
    os.environ["DATABASE_URL"] = DATABASE_URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "occiportal.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    queue_id, tokens = seed(args.records, args.clients)
    server = start_server(args.workers)
    try:
        timings, counts = {"claim": [], "submit": []}, {}
        until = time.monotonic() + args.seconds
        started = time.monotonic()
        threads = [threading.Thread(target=client, args=(queue_id, t, until, timings, counts)) for t in tokens]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
    requests = len(timings["claim"]) + len(timings["submit"])
    result = {
        "bench": "queue", "clients": args.clients, "seconds": round(elapsed, 1), "records": args.records,
        "gunicorn_workers": args.workers, "requests": requests, "requests_per_s": round(requests / elapsed, 1),
        "statuses": counts, "over_assigned": over_assigned(),
        **{f"{kind}_ms": {f"p{p}": percentile(values, p) for p in (50, 95, 99)} for kind, values in timings.items()},
        "claim_mean_ms": round(1000 * statistics.mean(timings["claim"]), 2) if timings["claim"] else None,
    }
    print(f"{requests} requests in {elapsed:.1f} s: {result['requests_per_s']} requests/s")
    for kind in ("claim", "submit"):
        print(f"{kind:>7}: p50 {result[f'{kind}_ms']['p50']} ms, p95 {result[f'{kind}_ms']['p95']} ms, p99 {result[f'{kind}_ms']['p99']} ms")
    print(f"over-assigned records: {result['over_assigned']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
