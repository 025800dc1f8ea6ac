"""Upload benchmark: a large file in resumable tus pieces vs one multipart POST, against gunicorn.

Builds a fresh database with one partner member and an API token, starts
gunicorn, writes a ``--megabytes`` JSONL file, then alternates, ``--repeats``
times each, from the file on disk to a stored submission:

- baseline: one ``multipart/form-data`` POST of the whole file to
  ``/api/submissions/`` (the way the API took files before resumable
  uploads; one web worker busy for the whole transfer);
- resumable: ``POST /api/uploads/``, ``PATCH`` pieces of ``--piece-mib``
  (each written and fsynced before it counts), then ``POST
  /api/submissions/`` with the upload's id (the part file is moved, not copied).

Prints MB/s of each (medians) and the time ratio resumable/baseline; last,
one JSON line. Ingest is not run (no worker): only the transfer is measured.
An answer that is not 2xx fails that transfer; failed transfers are counted
and named, their times left out, and the exit status is 1.

    .venv/bin/python bench/upload.py [--megabytes 256] [--piece-mib 8] [--repeats 3]
    .venv/bin/python bench/upload.py --smoke   # 2 MB in 1 MiB pieces, once: does it run
"""

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from fresh_database import django_setup, fresh_database
from gunicorn_server import start_gunicorn
from outcome import Errors, finish

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
DB = "occiportal_bench_upload"
SMOKE = {"megabytes": 2, "piece_mib": 1, "repeats": 1}
FIELDS = {"partner": "bench", "language": "de", "kind": "pretraining", "license": "CC-BY-4.0",
          "source": "benchmark", "consent": "true"}  # fmt: skip


def seed() -> str:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from occiportal.models import Partner, PartnerMembership

    partner = Partner.objects.create(slug="bench", name="Bench")
    user = get_user_model().objects.create_user("bench")
    PartnerMembership.objects.create(user=user, partner=partner)
    return Token.objects.create(user=user).key


def write_file(path: Path, megabytes: int) -> None:
    line = json.dumps({"text": "Ein Satz auf Deutsch, der sich oft wiederholt. " * 20}, ensure_ascii=False) + "\n"
    block = line.encode() * max(1, (1 << 20) // len(line))
    with path.open("wb") as out:
        while out.tell() < megabytes * 10**6:
            out.write(block)


def start_server(data_dir: Path) -> tuple[subprocess.Popen, int]:
    return start_gunicorn(env={"DATABASE_URL": os.environ["DATABASE_URL"], "OCCIPORTAL_DATA_DIR": str(data_dir)},
                          args=["-w", "2", "--threads", "4", "--timeout", "600"], probe="/api/schema/")  # fmt: skip


class Failed(Exception):
    """A request of a transfer answered with something other than 2xx."""


def request(conn, method, path, token, body=None, headers=None):
    conn.request(method, path, body=body, headers={"Authorization": f"Token {token}", **(headers or {})})
    response = conn.getresponse()
    data = response.read()
    if not 200 <= response.status < 300:
        print(f"{method} {path}: HTTP {response.status} {data[:300]!r}", file=sys.stderr)
        raise Failed(f"{method} /api/{path.split('/')[2]}/: HTTP {response.status}")  # no ids: counted together
    return response, data


def multipart_post(path: Path, token: str, port: int) -> float:
    boundary = uuid.uuid4().hex
    head = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in FIELDS.items())
    head += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
    head += "Content-Type: application/octet-stream\r\n\r\n"
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = len(head.encode()) + path.stat().st_size + len(tail)

    def body():
        yield head.encode()
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                yield block
        yield tail

    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    request(conn, "POST", "/api/submissions/", token, body(), {
        "Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(size)})  # fmt: skip
    return time.perf_counter() - started


def resumable(path: Path, token: str, piece: int, port: int) -> float:
    tus = {"Tus-Resumable": "1.0.0"}
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    created, data = request(conn, "POST", "/api/uploads/", token, b"", {**tus, "Upload-Length": str(path.stat().st_size)})
    location, offset = created.getheader("Location"), 0
    with path.open("rb") as f:
        while block := f.read(piece):
            request(conn, "PATCH", location, token, block, {
                **tus, "Content-Type": "application/offset+octet-stream", "Upload-Offset": str(offset)})  # fmt: skip
            offset += len(block)
    body = json.dumps({**FIELDS, "consent": True, "upload": json.loads(data)["id"]})
    request(conn, "POST", "/api/submissions/", token, body, {"Content-Type": "application/json"})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=int, default=256)
    parser.add_argument("--piece-mib", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE}: does it run, no figures to read")
    args = parser.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)

    OUT.mkdir(parents=True, exist_ok=True)
    django_setup(fresh_database(DB, smoke=args.smoke))
    token = seed()
    path = OUT / f"upload-{args.megabytes}mb.jsonl"
    if not path.exists():
        write_file(path, args.megabytes)
    megabytes = path.stat().st_size / 1e6
    data_dir = OUT / ("upload-data-smoke" if args.smoke else "upload-data")
    subprocess.run(["rm", "-rf", str(data_dir)], check=True)
    server, port = start_server(data_dir)
    transfers = {"baseline": lambda: multipart_post(path, token, port),
                 "resumable": lambda: resumable(path, token, args.piece_mib << 20, port)}  # fmt: skip
    times, errors = {name: [] for name in transfers}, Errors()
    try:
        for _ in range(args.repeats):  # interleaved, so both meet the same noise
            for name, transfer in transfers.items():
                try:
                    times[name].append(transfer())
                except (Failed, OSError, http.client.HTTPException) as error:
                    errors[f"{name}: {error}"] += 1
    finally:
        server.terminate()
        server.wait()
    report = {"megabytes": round(megabytes, 1), "piece_mib": args.piece_mib, "repeats": args.repeats}
    for name, values in times.items():
        if values:
            seconds = statistics.median(values)
            report[name] = {"seconds": round(seconds, 2), "mb_per_s": round(megabytes / seconds, 1)}
            print(f"{name}: {seconds:.2f} s, {megabytes / seconds:.1f} MB/s", flush=True)
    if not errors:
        report["time_ratio_resumable_to_baseline"] = round(report["resumable"]["seconds"] / report["baseline"]["seconds"], 2)
    finish(report, errors, smoke=args.smoke)


if __name__ == "__main__":
    main()
