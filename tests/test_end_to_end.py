"""The whole loop on the CPU, with real workers on both queues.

A partner uploads German documents → ingest → a native speaker accepts them
in a review queue → staff cut a snapshot → a tiny Mistral is trained on it
and evaluated → the published run is on the leaderboard and on the
partner's page.
"""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from annotation.models import Record, Submission
from annotation.services.review import certification_grant, queue_create, review_item_claim, review_submit
from tests.annotation.ingest_helpers import jsonl, submit
from tests.annotation.texts import documents
from tests.conftest import make_user, wait_for
from tests.training.run_helpers import FAST
from tests.training.test_runs_end_to_end import TINY, write_suite
from training.models import EvaluationRun, Snapshot, TrainingRun
from training.services.runs import evaluation_suite_create, training_run_publish
from training.services.snapshots import snapshot_create

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_upload_review_snapshot_train_evaluate_publish(
    gpu_worker, client, member_a, partner_a, german, staff, settings
):
    settings.TRAINING = {**settings.TRAINING, "EVALUATE_BASE_MODEL": False}
    # 1. A partner uploads; the worker ingests.
    submission = submit(user=member_a, partner=partner_a, language=german, content=jsonl({"text": t} for t in documents(24)))
    wait_for(lambda: Submission.objects.get(pk=submission.pk).is_finished, timeout=120)
    assert Submission.objects.get(pk=submission.pk).records_accepted == 24

    # 2. A certified native speaker accepts every document.
    queue = queue_create(creator=staff, language=german, kind="pretraining", name="Deutsch: Texte")
    annotator = make_user("ute")
    certification_grant(granter=staff, user=annotator, language_code="de")
    while assignment := review_item_claim(queue=queue, annotator=annotator):
        review_submit(assignment=assignment, action="accept")
    assert Record.objects.filter(submission=submission, status=Record.Status.ACCEPTED).count() == 24

    # 3. Staff cut a snapshot; the worker builds it.
    snapshot = snapshot_create(name="de-web", license="CC-BY-4.0", created_by=staff, parameters={"languages": ["de"], "splits": {"train": 0.9, "validation": 0.05, "test": 0.05}})
    wait_for(lambda: Snapshot.objects.get(pk=snapshot.pk).status in ("ready", "failed"), timeout=120)
    snapshot.refresh_from_db()
    assert snapshot.status == "ready", snapshot.failure

    # 4. A tiny Mistral is trained on it on the gpu queue, then evaluated.
    call_command("create_base_model", "tiny", "--tiny", *TINY, stdout=StringIO())
    suite = evaluation_suite_create(path=str(write_suite(Path(settings.DATA_DIR) / "suites" / "e2e")), provenance="native")
    out = StringIO()
    call_command(
        "train", "--snapshot", snapshot.label, "--base-model", "tiny", "--method", "cpt",
        "--hyperparameters", json.dumps(FAST), "--suite", suite.name, "--wait", "--timeout", "180", stdout=out,
    )  # fmt: skip
    summary = json.loads(out.getvalue())
    assert summary["status"] == "succeeded", summary
    run = TrainingRun.objects.get(pk=summary["run"])
    evaluation = wait_for(lambda: EvaluationRun.objects.filter(training_run=run).exclude(status__in=["queued", "running"]).first(), timeout=90)
    assert evaluation.status == "succeeded", evaluation.failure

    # 5. Published: on the leaderboard, and on the partner's page.
    training_run_publish(user=staff, run=run)
    assert f"run {run.pk}".encode() in client.get(reverse("leaderboard")).content
    client.force_login(member_a)
    page = client.get(reverse("partner_models", args=[partner_a.slug]))
    assert page.status_code == 200 and f"run {run.pk}".encode() in page.content
