"""Preference data end to end on the CPU, as issue 14 asks: upload, review with overlap, snapshot, DPO, evaluate, pages.

Everything the portal does runs as in production; the two GPU jobs run in this
process (as the GPU worker's child would) and their events go through the
portal's ``run_event_record``, as the worker sends them.
"""

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

pytest.importorskip("torch")

from annotation.services.review import certification_grant, queue_create, review_item_claim, review_submit  # noqa: E402
from tests.conftest import make_user  # noqa: E402
from tests.training.jobs.conftest import Recorder  # noqa: E402
from training.jobs.contract import JobSpec  # noqa: E402
from training.jobs.evaluate import run_evaluation  # noqa: E402
from training.jobs.train import run_training  # noqa: E402
from training.models import BaseModel, EvaluationResult, Snapshot, TrainingRun  # noqa: E402
from training.services.run_events import run_event_record  # noqa: E402
from training.services.runs import evaluation_run_create, training_run_create  # noqa: E402
from training.services.suites import snapshot_test_suite  # noqa: E402

from .test_snapshot_build import build  # noqa: E402

pytestmark = pytest.mark.django_db
TINY = ["--vocab-size", "512", "--hidden-size", "64", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--max-positions", "256"]
# Easy to tell apart: the chosen answer is polite, the rejected one curt; one prompt is a ranking.
QUESTIONS = ["Wie spät ist es?", "Wo ist der Bahnhof?", "Was kostet das Brot?", "Wann öffnet die Bibliothek?",
             "Wie wird das Wetter?", "Wer kocht heute?", "Wo finde ich Milch?", "Wie heißt du?"]  # fmt: skip
LINES = [{"prompt": q, "chosen": f"Gern helfe ich: {q.lower()} Danke für die Frage.", "rejected": "Keine Lust."}
         for q in QUESTIONS] + [
    {"prompt": "Zwei plus zwei?", "responses": ["Fünf.", "Gern: es sind vier.", "Weiß nicht."], "ranking": [1, 0, 2]},
]  # fmt: skip


def in_process(job, run) -> None:
    """Run the job the portal queued and record its events as the GPU worker would send them."""
    events = Recorder()
    run(JobSpec.from_dict(job.manifest["job_spec"]), events)
    for seq, event in enumerate(events):
        run_event_record(run_id=job.job_id, seq=seq, event=event)
    job.refresh_from_db()
    assert job.status == "succeeded", job.failure


def test_preferences_go_from_upload_through_review_and_dpo_to_the_leaderboard(
    ingested, partner_a, german, staff, client
):
    submission = ingested(LINES, partner=partner_a, language=german, kind="preference", license="CC-BY-4.0",
                          accepted=False)  # fmt: skip
    queue = queue_create(creator=staff, language=german, kind="preference", name="Präferenzen", overlap=2, consensus=2)
    for name in ("ulla", "udo"):  # two annotators agree on every pair: the uploaded order stands
        annotator = make_user(name)
        certification_grant(granter=staff, user=annotator, language_code="de")
        while lease := review_item_claim(queue=queue, annotator=annotator):
            review_submit(assignment=lease, action="judge", judgement={"type": "best", "best": 0})
    assert not submission.records.exclude(status="accepted").exists()  # consensus accepted them all

    snapshot = build(name="praeferenzen", languages=["de"], kinds=["preference"],
                     splits={"train": 0.7, "validation": 0.0, "test": 0.3})  # fmt: skip
    assert snapshot.status == Snapshot.Status.READY, snapshot.failure

    call_command("create_base_model", "tiny", "--tiny", *TINY, stdout=StringIO())
    base = BaseModel.objects.get(name="tiny")
    run = training_run_create(
        created_by=staff, snapshot=snapshot, base_model=base, method="dpo",
        hyperparameters={"max_steps": 6, "batch_size": 2, "seq_len": 64, "log_every": 1, "save_every": 100,
                         "learning_rate": 5e-3, "warmup_ratio": 0.0, "heartbeat_seconds": 60},
    )  # fmt: skip
    in_process(run, run_training)
    assert set(run.progress_metrics) >= {"reward_accuracy", "reward_margin"}

    suite = snapshot_test_suite(snapshot=snapshot)
    TrainingRun.objects.filter(pk=run.pk).update(published=True)
    trained = evaluation_run_create(created_by=staff, model_path=run.checkpoint_path, suites=[suite], training_run=run)
    in_process(trained, run_evaluation)
    in_process(evaluation_run_create(created_by=staff, model_path=base.source, suites=[suite], base_model=base),
               run_evaluation)

    result = EvaluationResult.objects.get(evaluation=trained, language="de", task="preference")
    assert result.n_pairs >= 1 and result.pref_acc is not None and result.pref_acc_stderr is not None
    run_page = client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert 'data-metric="reward_accuracy"' in run_page and 'data-metric="pref_acc"' in run_page
    leaderboard = client.get(reverse("leaderboard")).content.decode()
    assert 'data-metric="pref_acc"' in leaderboard and "data-stderr" in leaderboard
