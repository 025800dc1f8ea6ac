"""The web and ingest processes never import the training stack."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WEB_AND_INGEST = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
import django
django.setup()
from django.urls import get_resolver
import annotation.tasks, annotation.api.views, annotation.web.views  # noqa
import occiportal.wsgi  # noqa
get_resolver().url_patterns
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "transformers", "peft", "accelerate"})
assert not heavy, heavy
"""


def test_web_and_ingest_processes_load_no_torch():
    result = subprocess.run([sys.executable, "-c", WEB_AND_INGEST], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
