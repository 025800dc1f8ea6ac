"""The OpenAPI schema answers when a fresh process is asked for it by several threads at once."""

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A process of its own: drf-spectacular loads its extensions once per process,
# and the crash (tfranzel/drf-spectacular#1122) was in that first load.
SCRIPT = """
import os, threading, django
django.setup()
from django.test import Client
answers = []
def ask():
    try:
        answers.append(Client().get("/api/schema/", HTTP_HOST="localhost").status_code)
    except Exception as error:
        answers.append(repr(error))
threads = [threading.Thread(target=ask) for _ in range(8)]
for thread in threads: thread.start()
for thread in threads: thread.join()
print(answers)
"""


def test_first_schema_of_a_process_survives_concurrent_requests():
    with tempfile.TemporaryDirectory() as data_dir:
        result = subprocess.run(
            [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120,
            env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "occiportal.settings",
                 "OCCIPORTAL_DATA_DIR": data_dir, "DATABASE_URL": f"sqlite:///{data_dir}/db.sqlite3"},
        )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == str([200] * 8)
