"""The job as the GPU worker runs it: a child process, killed, crashed, resumed."""

import ast
import os
import subprocess
import sys
from pathlib import Path

from tests.training.jobs.conftest import make_spec
from training.jobs.runner import run_in_child

REPO = Path(__file__).resolve().parents[3]
JOBS = REPO / "training" / "jobs"


def test_a_killed_run_resumes_from_its_checkpoint_not_from_zero(tiny_model, cpt_snapshot, tmp_path):
    spec = make_spec(tiny_model, cpt_snapshot, tmp_path / "run", max_steps=16, save_every=4)
    seen = []

    def killed_after_second_checkpoint():
        return sum(e["event"] == "checkpoint" for e in seen) >= 2

    first = run_in_child(spec, seen.append, cancel_check=killed_after_second_checkpoint)

    assert first.cancelled and first.exit_code == -9 and not first.ok
    saved = max(e["step"] for e in seen if e["event"] == "checkpoint")
    assert saved >= 8

    resumed = []
    second = run_in_child(spec, resumed.append)

    assert second.ok, second.log_tail[-20:]
    start = next(e for e in resumed if e["event"] == "start")
    steps = [e["step"] for e in resumed if e["event"] == "progress"]
    assert start["start_step"] >= saved and start["resumed_from"].endswith(f"checkpoint-{start['start_step']}")
    assert steps[0] == start["start_step"] + 1 and steps[-1] == 16
    exit_code, last_event, _ = second
    assert exit_code == 0 and last_event["event"] == "done" and last_event["steps"] == 16


def test_a_crashing_job_is_a_failed_result_with_its_log_tail(tiny_model, cpt_snapshot, tmp_path):
    spec = make_spec(tiny_model, cpt_snapshot, tmp_path / "run")
    spec.base_model = str(tmp_path / "no-such-model")
    events = []

    result = run_in_child(spec, events.append)

    assert result.exit_code == 1 and not result.ok
    assert result.last_event["event"] == "error" and "no-such-model" in result.last_event["message"]
    assert any("Traceback" in line for line in result.log_tail)
    assert len(result.log_tail) <= 200


def test_the_child_sees_only_the_allowed_environment(tiny_model, cpt_snapshot, tmp_path, monkeypatch):
    secrets = {"DJANGO_SECRET_KEY": "s3cret", "CELERY_BROKER_URL": "redis://:pw@broker/0",
               "DATABASE_URL": "postgres://portal:pw@db/portal"}
    needed = {"AWS_SECRET_ACCESS_KEY": "key", "OCCIPORTAL_S3_ENDPOINT_URL": "http://store", "HF_HOME": "/hf",
              "CUDA_VISIBLE_DEVICES": "0", "LC_ALL": "C.UTF-8", "OMP_NUM_THREADS": "2"}
    for name, value in {**secrets, **needed}.items():
        monkeypatch.setenv(name, value)
    # Stands in for python: whatever its arguments, it reports its environment as the last event.
    child = tmp_path / "child"
    child.write_text(f"#!{sys.executable}\nimport json, os\nprint(json.dumps({{'event': 'done', 'env': dict(os.environ)}}))\n")
    child.chmod(0o755)

    result = run_in_child(make_spec(tiny_model, cpt_snapshot, tmp_path / "run"), lambda event: None, python=str(child))

    seen = result.last_event["env"]
    assert not set(secrets) & set(seen)
    assert {name: seen.get(name) for name in needed} == needed and seen["PATH"] == os.environ["PATH"]


def test_a_child_that_dies_without_a_word_is_a_failed_result(tiny_model, cpt_snapshot, tmp_path):
    spec = make_spec(tiny_model, cpt_snapshot, tmp_path / "run")
    result = run_in_child(spec, lambda event: None, python="/bin/false")
    assert result.exit_code == 1 and result.last_event is None
    assert result.log_tail[-1] == "job exited with code 1"


def test_the_job_code_loads_no_django():
    code = (
        "import sys, training.jobs.__main__, training.jobs.train, training.jobs.evaluate, training.jobs.runner; "
        "assert 'django' not in sys.modules, sorted(m for m in sys.modules if m.startswith('django'))"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)


def test_no_module_of_the_job_code_imports_django():
    for path in JOBS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(name.split(".")[0] == "django" for name in names), path


def test_the_command_line_confines_paths_to_the_storage_roots(tiny_model, cpt_snapshot, tmp_path):
    spec = make_spec(tiny_model, cpt_snapshot, tmp_path / "run")
    allowed = tmp_path / "storage"
    allowed.mkdir()

    result = run_in_child(spec, lambda event: None, env={"OCCIPORTAL_JOB_ROOTS": str(allowed)})

    assert result.exit_code == 1 and result.last_event["error_type"] == "SpecError"
    assert "outside the allowed storage roots" in result.last_event["message"]
    assert not (tmp_path / "run").exists()
