"""Check (or, with `start`, start) the PostgreSQL and Redis the tests use."""

import socket
import subprocess
import sys
import time

SERVICES = {
    "PostgreSQL": (5432, "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"),
    "Redis": (
        6379,
        "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' "
        "--appendonly no --dir /tmp --logfile /tmp/redis-ci.log",
    ),
}


def is_up(port):
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def main(action):
    missing = []
    for name, (port, start) in SERVICES.items():
        if is_up(port):
            continue
        if action == "start":
            print(f"starting {name}")
            subprocess.run(start, shell=True, check=False)
            for _ in range(60):
                if is_up(port):
                    break
                time.sleep(0.5)
        if not is_up(port):
            missing.append(f"{name} on 127.0.0.1:{port}")
    if missing:
        sys.exit("Not running: " + ", ".join(missing) + ". Start them (see .ci/run).")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "check")
