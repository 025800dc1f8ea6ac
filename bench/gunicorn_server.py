"""Start gunicorn on the portal for a benchmark and wait until it answers."""

import http.client
import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start_gunicorn(*, port: int, env: dict, args: list[str], probe: str, headers: dict | None = None) -> subprocess.Popen:
    """gunicorn ``args`` on 127.0.0.1:``port`` with ``env`` on top of ours, once ``GET probe`` answers (30 s at most)."""
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "occiportal.wsgi", *args, "-b", f"127.0.0.1:{port}",
         "--log-level", "warning"],
        cwd=ROOT, env={**os.environ, "DJANGO_SETTINGS_MODULE": "occiportal.settings", "OCCIPORTAL_LOG_LEVEL": "WARNING",
                       **env},
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", probe, headers=headers or {})
            conn.getresponse().read()
            return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not start")
