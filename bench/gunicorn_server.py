"""Start gunicorn on the portal for a benchmark, on a port the OS picks, and wait until it answers."""

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_socket() -> socket.socket:
    """A listening TCP socket on 127.0.0.1 at a port the OS chose (port 0): no other server holds it."""
    return socket.create_server(("127.0.0.1", 0))


def start_gunicorn(*, env: dict, args: list[str], probe: str, headers: dict | None = None) -> tuple[subprocess.Popen, int]:
    """gunicorn ``args`` with ``env`` on top of ours, once ``GET probe`` answers 2xx; returns it and its port.

    The socket is bound here and handed to gunicorn (``--bind fd://``), so
    nothing else can answer on that port: a benchmark once measured another
    server's 401s because its fixed port was taken. Exits, saying why, if
    gunicorn dies, the probe answers anything but 2xx, or nothing answers
    in 30 s.
    """
    listener = free_socket()
    port = listener.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "occiportal.wsgi", *args, "-b", f"fd://{listener.fileno()}",
         "--log-level", "warning"],
        cwd=ROOT, pass_fds=[listener.fileno()],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "occiportal.settings", "OCCIPORTAL_LOG_LEVEL": "WARNING", **env},
    )  # fmt: skip
    listener.close()  # gunicorn holds its own copy
    why, deadline = "no answer in 30 s", time.monotonic() + 30
    while time.monotonic() < deadline and server.poll() is None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)  # a cold first answer on a busy machine
            conn.request("GET", probe, headers=headers or {})
            status = conn.getresponse().status
        except OSError:
            time.sleep(0.2)
            continue
        if 200 <= status < 300:
            return server, port
        why = f"GET {probe} answered HTTP {status}"  # our own socket: the answer is the portal's
        break
    if server.poll() is not None:
        why = f"it exited with status {server.returncode}"
    server.terminate()
    server.wait()
    raise SystemExit(f"gunicorn did not start: {why}")
