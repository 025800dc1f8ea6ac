"""What each kind of process imports: the web and ingest processes never load the training stack, no portal process loads the S3 client before it uploads."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROCESS = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
import django
django.setup()
from django.urls import get_resolver
import {modules}  # noqa
get_resolver().url_patterns
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {forbidden!r})
assert not loaded, loaded
"""

WEB_AND_INGEST = "annotation.tasks, annotation.api.views, annotation.web.views, occiportal.wsgi"
PORTAL = "training.services.runs, training.services.storage, training.views_runs, training.gpu_worker, training.tasks"


@pytest.mark.parametrize("modules, forbidden", [
    (WEB_AND_INGEST, {"torch", "transformers", "peft", "accelerate"}),
    (f"{WEB_AND_INGEST}, {PORTAL}", {"boto3", "botocore", "s3transfer", "moto"}),
], ids=["web-and-ingest-load-no-torch", "portal-loads-no-s3-client-until-it-uploads"])  # fmt: skip
def test_processes_load_only_what_they_need(modules, forbidden):
    script = PROCESS.format(modules=modules, forbidden=forbidden)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
