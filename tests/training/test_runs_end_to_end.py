"""From a snapshot to a trained tiny Mistral and its evaluation, with real workers on both queues.

The job is killed mid-training (SIGKILL, as an OOM killer does): the run
records the crash and resumes from its last checkpoint as a second attempt.

The ``default`` worker (tests/conftest.py) records events; a second worker
thread consumes ``gpu`` and runs each job as a child process on the CPU.
"""

import json
import os
import signal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

import training.tasks  # noqa: F401
from tests.conftest import wait_for
from training import gpu_worker as gpu_worker_module  # registers the gpu task before the workers start
from training.models import BaseModel, EvaluationRun, RunEvent, TrainingRun
from training.services.runs import evaluation_suite_create, training_run_publish

from .run_helpers import FAST, make_snapshot

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
STEPS = 8
TINY = ["--vocab-size", "512", "--hidden-size", "64", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--max-positions", "256"]


def write_suite(folder: Path) -> Path:
    folder.mkdir(parents=True)
    items = [
        {"question": "Die Katze sitzt auf der", "choices": ["Matte", "Sonne", "Wolke"], "answer": 0},
        {"question": "Brot backen braucht Mehl, Wasser und", "choices": ["Salz", "Eisen"], "answer": 0},
        {"text": "Der Herbst kommt in diesem Jahr früh."},
        {"task": "preference", "prompt": "Was braucht Brot?", "chosen": "Mehl, Wasser und Salz.", "rejected": "Eisen."},
        {"task": "preference", "prompt": [{"role": "user", "content": "Wo sitzt die Katze?"}], "chosen": "Auf der Matte.",
         "rejected": ["In der Wolke.", "Nirgends."]},
    ]  # fmt: skip
    (folder / "de.jsonl").write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items))
    (folder / "fr.jsonl").write_text(json.dumps({"text": "Le chat dort au soleil."}) + "\n")
    return folder


def kill_job(job_id: str) -> bool:
    """SIGKILL the child process group running ``job_id`` (found by its spec file), as an OOM killer would."""
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if b"training.jobs" in argv and json.loads(Path(argv[-2].decode()).read_text())["run_id"] == job_id:
                os.killpg(int(proc.name), signal.SIGKILL)
                return True
        except (OSError, ValueError, IndexError, KeyError):
            continue
    return False


def test_train_crash_resume_then_evaluate_on_the_cpu(gpu_worker, client, staff, settings, monkeypatch):
    settings.TRAINING = {**settings.TRAINING, "EVALUATE_BASE_MODEL": False}  # one evaluation job is enough here
    call_command("create_base_model", "tiny", "--tiny", *TINY, stdout=StringIO())
    base = BaseModel.objects.get(name="tiny")
    assert base.is_tiny and (Path(base.source) / "config.json").is_file()
    snapshot = make_snapshot()
    suite = evaluation_suite_create(path=str(write_suite(Path(settings.DATA_DIR) / "suites" / "mini")), provenance="human-translated")

    # The job dies right after its first checkpoint, killed from the worker as it
    # reports it (no race with the training loop); it resumes from it as attempt 2.
    crashed = []
    real_run_in_child = gpu_worker_module.run_in_child

    def crash_once(spec, on_event, cancel_check):
        def watch(event):
            on_event(event)
            if spec.kind == "train" and event.get("event") == "checkpoint" and not crashed:
                crashed.append(kill_job(spec.run_id))

        return real_run_in_child(spec, watch, cancel_check)

    monkeypatch.setattr(gpu_worker_module, "run_in_child", crash_once)
    out = StringIO()
    call_command(
        "train", "--snapshot", snapshot.label, "--base-model", "tiny", "--method", "cpt", "--max-steps", str(STEPS),
        "--hyperparameters", json.dumps(FAST), "--suite", suite.name, "--wait", "--timeout", "120", stdout=out,
    )  # fmt: skip
    assert crashed == [True]
    summary = json.loads(out.getvalue())
    assert summary["status"] == "succeeded", summary
    assert summary["steps"] == STEPS and summary["final_loss"] > 0 and summary["tokens_per_second"] > 0
    assert summary["attempt"] == 2 and summary["failure"] is None  # the crash is history now, not the run's message
    run = TrainingRun.objects.get(pk=summary["run"])
    assert "the job process died (exit code -9)" in run.manifest["earlier_failures"][0]
    resumed = RunEvent.objects.get(run=run, attempt=2, kind="start").payload
    assert resumed["start_step"] >= 2 and resumed["resumed_from"]

    from transformers import AutoModelForCausalLM, AutoTokenizer

    AutoModelForCausalLM.from_pretrained(summary["checkpoint"], use_safetensors=True)
    AutoTokenizer.from_pretrained(summary["checkpoint"])
    run.refresh_from_db()
    assert run.manifest["snapshot"]["sha256"] == snapshot.manifest_sha256 and run.manifest["versions"]["torch"]

    evaluation = wait_for(lambda: EvaluationRun.objects.filter(training_run=run).exclude(status__in=["queued", "running"]).first(), timeout=60)
    assert evaluation.status == "succeeded", evaluation.failure + evaluation.log_tail
    results = {(r.language, r.task): r for r in evaluation.results.all()}
    assert set(results) == {("de", "mini"), ("de", "preference"), ("fr", "mini")}
    assert results["de", "mini"].acc is not None and results["de", "mini"].n == 3
    assert results["de", "mini"].acc_stderr is not None and results["de", "preference"].n_pairs == 2
    assert results["de", "preference"].pref_acc is not None and results["de", "preference"].pref_acc_stderr is not None
    assert results["fr", "mini"].bits_per_byte > 0 and results["fr", "mini"].provenance == "human-translated"

    training_run_publish(user=staff, run=run)
    exported = json.loads(b"".join(client.get(reverse("evaluation_results", args=[evaluation.pk])).streaming_content))
    assert set(exported["results"]) == {"mini_de", "mini_fr", "preference_de"} and "acc,none" in exported["results"]["mini_de"]
    assert exported["results"]["preference_de"]["pref_acc_stderr,none"] == results["de", "preference"].pref_acc_stderr
    page = client.get(reverse("leaderboard"))
    assert page.status_code == 200 and f"run {run.pk}".encode() in page.content and b"data-stderr" in page.content
    assert b"Translated by people" in page.content
    page = client.get(reverse("run_detail", args=[run.pk]))
    assert b"<polyline" in page.content and b"mini" in page.content
