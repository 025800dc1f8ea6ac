"""Review queue benchmark (bench/queue of issue 3; not queue.py, which would shadow the standard library): 32 annotator clients over HTTP against gunicorn and PostgreSQL.

Builds a fresh database with one German instruction queue (overlap 2) of
``--records`` records and ``--clients`` certified annotators with API
tokens, and starts gunicorn. Then two phases of ``--seconds`` each, the
same clients on the same server:

1. baseline: every client loops ``GET /api/partners/`` (token auth and one
   tiny query, nothing of review): the framework's floor on this machine;
2. queue: every client loops "next item → accept" through the REST API.

Prints requests/s, the p50/p95/p99 latency of each, next-item's p50 and p99
as a multiple of the baseline's, the SQL statements one next-item and one
submit run (counted in-process, BEGIN/COMMIT not counted), the database
sessions gunicorn opened (persistent connections: about one per thread),
and the number of over-assigned records (more live leases + answers than
the overlap, or one annotator twice on a record), which must be 0; last,
one JSON line. Any answer that is not 2xx, a request that got no answer or
an over-assigned record is an error: counted, named, and the exit status 1.

    .venv/bin/python bench/review_queue.py [--clients 32] [--seconds 30] [--records 20000] [--workers 4] [--threads 8]
    .venv/bin/python bench/review_queue.py --smoke   # 4 clients, 2 s, 300 records: does it run
"""

import argparse
import hashlib
import http.client
import json
import os
import statistics
import subprocess
import threading
import time

from fresh_database import django_setup, fresh_database
from gunicorn_server import start_gunicorn
from outcome import Errors, finish

DB = "occiportal_bench_queue"
SMOKE = {"clients": 4, "seconds": 2, "records": 300, "workers": 1, "threads": 4}
BASELINE_PATH = "/api/partners/"  # an annotator belongs to no partner: one indexed query, an empty list


def seed(records: int, clients: int) -> tuple[int, list[str]]:
    """One queue, its records and its annotators (plus two for counting queries); returns the queue id and the tokens."""
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
    for i in range(clients + 2):
        user = get_user_model().objects.create_user(f"annotator-{i:02d}")
        certification_grant(granter=staff, user=user, language_code="de")
        tokens.append(Token.objects.create(user=user).key)
    return queue.pk, tokens


def analyze() -> None:
    """Fresh tables: give the planner the statistics autovacuum would."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def queries_per_request(queue_id: int, first: str, second: str, errors: Errors) -> dict:
    """SQL statements of next-item and submit, through the whole middleware stack, in this process.

    Two annotators answer the same record: the first answer only counts, the
    second decides. BEGIN, COMMIT and savepoints are not counted.
    """
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    clients = [APIClient(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {token}") for token in (first, second)]
    for _ in range(2):  # the first round fills per-process caches (content types, translations)
        counts = {}
        for client, submit in zip(clients, ("submit_first_vote", "submit_deciding")):
            with CaptureQueriesContext(connection) as claimed:
                claim = client.post(f"/api/review/queues/{queue_id}/claim/")
            if not errors.status("counting queries: claim", claim.status_code) or claim.status_code == 204:
                return {}
            with CaptureQueriesContext(connection) as submitted:
                path = f"/api/review/assignments/{claim.json()['id']}/submit/"
                answered = client.post(path, {"action": "accept"}, format="json")
            errors.status("counting queries: submit", answered.status_code)
            counts.setdefault("claim", statements(claimed))
            counts[submit] = statements(submitted)
    return counts


def statements(captured) -> int:
    control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")
    return sum(1 for query in captured.captured_queries if not query["sql"].startswith(control))


def database_sessions() -> int:
    """Connections ever opened to the benchmark database (PostgreSQL 14+)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def start_server(workers: int, threads: int, token: str) -> tuple[subprocess.Popen, int]:
    return start_gunicorn(env={"DATABASE_URL": os.environ["DATABASE_URL"]}, probe=BASELINE_PATH,
                          args=["-w", str(workers), "--threads", str(threads)],
                          headers={"Authorization": f"Token {token}"})  # fmt: skip


class Client:
    """One annotator's keep-alive connection; records each call's latency by kind, and any answer but 2xx as an error."""

    def __init__(self, port, token, timings, counts, errors):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        self.timings, self.counts, self.errors = timings, counts, errors

    def call(self, kind, method, path, body=None):
        for attempt in (1, 2):  # gunicorn closes a keep-alive connection idle for 2 s: open it again, once
            started = time.perf_counter()
            try:
                self.conn.request(method, path, body=body, headers=self.headers)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (OSError, http.client.HTTPException) as error:
                self.conn.close()
                if attempt == 2:  # counted, not lost in the thread
                    self.counts[type(error).__name__] = self.counts.get(type(error).__name__, 0) + 1
                    self.errors[f"{kind or 'warm-up'}: {type(error).__name__}"] += 1
                    return None, b""
        self.errors.status(kind or "warm-up", response.status)
        if kind:
            self.timings[kind].append(time.perf_counter() - started)
            self.counts[response.status] = self.counts.get(response.status, 0) + 1
        return response.status, data


def baseline_loop(client, queue_id, start, seconds):
    client.call(None, "GET", BASELINE_PATH)  # warm the connection and the worker thread, untimed
    start.wait()
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        client.call("baseline", "GET", BASELINE_PATH)


def queue_loop(client, queue_id, start, seconds):
    client.call(None, "GET", BASELINE_PATH)
    start.wait()
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        status, data = client.call("claim", "POST", f"/api/review/queues/{queue_id}/claim/")
        if status != 201:
            break
        item = json.loads(data)
        client.call("submit", "POST", f"/api/review/assignments/{item['id']}/submit/", json.dumps({"action": "accept"}))


def phase(loop, kinds, queue_id, port, tokens, seconds, errors) -> dict:
    """Run ``loop`` on one thread per token, all starting at once; timings per kind, statuses, seconds."""
    timings, counts = {kind: [] for kind in kinds}, {}
    start = threading.Barrier(len(tokens))
    threads = [threading.Thread(target=loop, args=(Client(port, t, timings, counts, errors), queue_id, start, seconds))
               for t in tokens]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"timings": timings, "statuses": counts, "seconds": time.monotonic() - started}


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


def latency(values) -> dict:
    figures = {f"p{p}": percentile(values, p) for p in (50, 95, 99)}
    figures["mean"] = round(1000 * statistics.mean(values), 2) if values else None
    figures["max"] = round(1000 * max(values), 2) if values else None
    return figures


def ratio(value, base):
    return round(value / base, 2) if value and base else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30, help="per phase: baseline, then queue")
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker")
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE}: does it run, no figures to read")
    args = parser.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)

    django_setup(fresh_database(DB, smoke=args.smoke))
    errors = Errors()
    queue_id, tokens = seed(args.records, args.clients)
    queries = queries_per_request(queue_id, tokens.pop(), tokens.pop(), errors)
    analyze()  # after the probe's answers, so the review tables are not empty to the planner
    server, port = start_server(args.workers, args.threads, tokens[0])
    try:
        sessions_before = database_sessions()
        baseline = phase(baseline_loop, ["baseline"], queue_id, port, tokens, args.seconds, errors)
        queue = phase(queue_loop, ["claim", "submit"], queue_id, port, tokens, args.seconds, errors)
        sessions = database_sessions() - sessions_before
    finally:
        server.terminate()
        server.wait(timeout=30)

    base, claim, submit = (latency(t) for t in (baseline["timings"]["baseline"], queue["timings"]["claim"],
                                                 queue["timings"]["submit"]))
    requests = len(queue["timings"]["claim"]) + len(queue["timings"]["submit"])
    base_requests = len(baseline["timings"]["baseline"])
    result = {
        "bench": "queue", "clients": args.clients, "seconds": round(queue["seconds"], 1), "records": args.records,
        "gunicorn": {"workers": args.workers, "threads": args.threads},
        "requests": requests, "requests_per_s": round(requests / queue["seconds"], 1),
        "statuses": queue["statuses"], "over_assigned": over_assigned(),
        "claim_ms": claim, "submit_ms": submit, "queries": queries, "database_sessions_opened": sessions,
        "baseline": {"path": BASELINE_PATH, "requests_per_s": round(base_requests / baseline["seconds"], 1),
                     "statuses": baseline["statuses"], "ms": base},
        "claim_vs_baseline": {"p50": ratio(claim["p50"], base["p50"]), "p99": ratio(claim["p99"], base["p99"])},
    }
    print(f"baseline {BASELINE_PATH}: {result['baseline']['requests_per_s']} requests/s, "
          f"p50 {base['p50']} ms, p95 {base['p95']} ms, p99 {base['p99']} ms")
    print(f"queue: {requests} requests in {queue['seconds']:.1f} s: {result['requests_per_s']} requests/s")
    for kind, figures in (("claim", claim), ("submit", submit)):
        print(f"{kind:>7}: p50 {figures['p50']} ms, p95 {figures['p95']} ms, p99 {figures['p99']} ms")
    print(f"SQL statements: next-item {queries.get('claim')}, submit {queries.get('submit_first_vote')} "
          f"(first vote) / {queries.get('submit_deciding')} (deciding vote)")
    print(f"claim / baseline: p50 ×{result['claim_vs_baseline']['p50']}, p99 ×{result['claim_vs_baseline']['p99']}")
    print(f"database sessions opened by gunicorn: {sessions}; over-assigned records: {result['over_assigned']}")
    errors.check(result["over_assigned"] == 0, "over-assigned records")
    errors.check(bool(queue["timings"]["submit"]), "queue: no item submitted")
    finish(result, errors, smoke=args.smoke)


if __name__ == "__main__":
    main()
