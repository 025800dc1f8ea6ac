"""What each kind of process imports: the web and ingest processes never load the training stack, no portal process loads the S3 client before it uploads."""

import ast
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
PORTAL = "training.services.runs, training.services.storage, training.web.views.runs, training.gpu_worker, training.tasks"


@pytest.mark.parametrize("modules, forbidden", [
    (WEB_AND_INGEST, {"torch", "transformers", "peft", "accelerate"}),
    (f"{WEB_AND_INGEST}, {PORTAL}", {"boto3", "botocore", "s3transfer", "moto"}),
], ids=["web-and-ingest-load-no-torch", "portal-loads-no-s3-client-until-it-uploads"])  # fmt: skip
def test_processes_load_only_what_they_need(modules, forbidden):
    script = PROCESS.format(modules=modules, forbidden=forbidden)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


# -- the job contract: what the portal and the GPU jobs share, found by walking imports ------------

PACKAGES = ("annotation", "occiportal", "training")
JOBS = "training.jobs"
CONTRACT = "training.jobs.contract"
GPU_WORKER = "training.gpu_worker"  # the GPU side: it starts jobs through the runner


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function; ``from a import b`` counts as ``a.b`` too."""
    package = module_name(path).split(".") if path.name == "__init__.py" else module_name(path).split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: "." is the package itself
                base = ".".join([*package[: len(package) - node.level + 1], *filter(None, [base])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def repo_modules() -> dict[str, Path]:
    return {module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
            if "migrations" not in path.parts}  # fmt: skip


def test_the_portal_imports_nothing_from_the_jobs_but_the_contract():
    modules = repo_modules()
    crossings = sorted(
        (name, imported) for name, path in modules.items()
        if not (name + ".").startswith(JOBS + ".") and name != GPU_WORKER
        for imported in imports_of(path)
        if imported.startswith(JOBS + ".") and imported != CONTRACT and not imported.startswith(CONTRACT + ".")
    )  # fmt: skip
    assert not crossings, crossings


def test_the_job_modules_import_no_django_nor_anything_of_the_portal():
    modules = repo_modules()
    seen, todo, reached = set(), [name for name in modules if name.startswith(JOBS)], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for imported in imports_of(modules[name]):
            reached.add(imported)
            todo.extend(module for module in (imported, imported.rsplit(".", 1)[0]) if module in modules)
    assert CONTRACT in seen and len(seen) > 8  # the walk did walk
    portal = sorted(m for m in reached if m.split(".")[0] in {"django", "occiportal", "annotation", "celery", "kombu"})
    assert not portal, portal
    assert not [m for m in seen if m.startswith("training.") and m.split(".")[1] not in ("jobs", "run_store")], seen


# -- layers: web and api → services and selectors → models, never back ---------------------------

PAGES = ("web", "api")  # what answers requests
BELOW_PAGES = ("models", "services", "snapshots", "ingest", "corpus", "dedup", "jobs")  # what pages call


def _layer(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[0] in PACKAGES else None


def test_imports_point_down_the_layers():
    """Models import no services or pages; services and the data steps import no pages."""
    modules = repo_modules()
    upward = sorted(
        (name, imported) for name, path in modules.items()
        for imported in imports_of(path)
        if (_layer(name) == "models" and _layer(imported) in ("services", *PAGES))
        or (_layer(name) in BELOW_PAGES and _layer(imported) in PAGES)
        or (name.endswith("selectors") and _layer(imported) in PAGES)
    )  # fmt: skip
    assert not upward, upward
    assert {_layer(name) for name in modules} >= {"models", "services", "web", "api"}  # the layers are there to check
