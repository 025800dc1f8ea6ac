"""The portal on its embedded defaults (``./bin/portal``: SQLite, no server): the paths written in SQL run there too."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _manage(*args, data_dir):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "OCCIPORTAL_TEST_DB_NAME")}
    env.update(DJANGO_SETTINGS_MODULE="occiportal.settings", OCCIPORTAL_DATA_DIR=str(data_dir))
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_review_and_a_snapshot_build_run_on_sqlite(tmp_path):
    _manage("migrate", "-v0", data_dir=tmp_path)
    script = (ROOT / "tests" / "embedded" / "review_on_sqlite.py").read_text()
    review, snapshot = map(json.loads, _manage("shell", "-c", script, data_dir=tmp_path).strip().splitlines()[-2:])
    assert review == {"first": 1, "again": True, "decision": "accepted", "second": 2, "left": None}
    assert snapshot == {"snapshot": "ready", "failure": "", "counts": {"de": {"train": {"records": 5, "tokens": 24}}}}
    # 2 instruction rows, a pair, a ranking of three as two pairs; the ranking's pairs are counted anew (24 tokens)
