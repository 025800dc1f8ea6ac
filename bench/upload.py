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

    .venv/bin/python bench/upload.py [--megabytes 256] [--piece-mib 8] [--repeats 3]
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

from fresh_database import fresh_database
from gunicorn_server import start_gunicorn

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
DB = "occiportal_bench_upload"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DB}"
PORT = 8766
FIELDS = {"partner": "bench", "language": "de", "kind": "pretraining", "license": "CC-BY-4.0",
          "source": "benchmark", "consent": "true"}  # fmt: skip


def seed() -> str:
    os.environ["DATABASE_URL"] = DATABASE_URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "occiportal.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
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


def start_server(data_dir: Path) -> subprocess.Popen:
    return start_gunicorn(port=PORT, env={"DATABASE_URL": DATABASE_URL, "OCCIPORTAL_DATA_DIR": str(data_dir)},
                          args=["-w", "2", "--threads", "4", "--timeout", "600"], probe="/api/schema/")  # fmt: skip


def request(conn, method, path, token, body=None, headers=None):
    conn.request(method, path, body=body, headers={"Authorization": f"Token {token}", **(headers or {})})
    response = conn.getresponse()
    data = response.read()
    if response.status >= 300:
        raise SystemExit(f"{method} {path}: {response.status} {data[:300]!r}")
    return response, data


def multipart_post(path: Path, token: str) -> float:
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
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=600)
    request(conn, "POST", "/api/submissions/", token, body(), {
        "Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(size)})  # fmt: skip
    return time.perf_counter() - started


def resumable(path: Path, token: str, piece: int) -> float:
    tus = {"Tus-Resumable": "1.0.0"}
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=600)
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
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    fresh_database(DB)
    token = seed()
    path = OUT / f"upload-{args.megabytes}mb.jsonl"
    if not path.exists():
        write_file(path, args.megabytes)
    megabytes = path.stat().st_size / 1e6
    data_dir = OUT / "upload-data"
    subprocess.run(["rm", "-rf", str(data_dir)], check=True)
    server = start_server(data_dir)
    times = {"baseline": [], "resumable": []}
    try:
        for _ in range(args.repeats):  # interleaved, so both meet the same noise
            times["baseline"].append(multipart_post(path, token))
            times["resumable"].append(resumable(path, token, args.piece_mib << 20))
    finally:
        server.terminate()
        server.wait()
    report = {"megabytes": round(megabytes, 1), "piece_mib": args.piece_mib, "repeats": args.repeats}
    for name, values in times.items():
        seconds = statistics.median(values)
        report[name] = {"seconds": round(seconds, 2), "mb_per_s": round(megabytes / seconds, 1)}
        print(f"{name}: {seconds:.2f} s, {megabytes / seconds:.1f} MB/s", flush=True)
    report["time_ratio_resumable_to_baseline"] = round(report["resumable"]["seconds"] / report["baseline"]["seconds"], 2)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
