"""Only staff start, cancel, publish or see unpublished runs; everyone else gets 404 (or 403 on published ones)."""

import json

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from training.models import EvaluationResult, EvaluationRun, EvaluationSuite, TrainingRun
from training.services.runs import job_cancel

from .run_helpers import make_run

pytestmark = pytest.mark.django_db


def test_only_staff_start_runs(member_a, staff):
    with pytest.raises(PermissionDenied):
        make_run(user=member_a)
    run = make_run(user=staff)
    assert run.status == TrainingRun.Status.QUEUED and run.created_by == staff
    assert run.manifest["job_spec"]["train"]["max_steps"] == 4
    assert run.output_dir.endswith(f"runs/{run.pk}")


def test_hyperparameters_are_checked_against_the_train_config(staff):
    from django.core.exceptions import ValidationError

    from .run_helpers import make_base_model, make_snapshot

    with pytest.raises(ValidationError, match="learning_rat"):
        from training.services.runs import training_run_create

        training_run_create(created_by=staff, snapshot=make_snapshot(), base_model=make_base_model(),
                            method="cpt", hyperparameters={"learning_rat": 1})  # fmt: skip


def test_paths_outside_the_storage_roots_are_refused(staff, tmp_path):
    from django.core.exceptions import ValidationError

    from training.models import BaseModel

    elsewhere = BaseModel.objects.create(name="elsewhere", source=str(tmp_path.parent / "outside"))
    with pytest.raises(ValidationError, match="outside the allowed storage roots"):
        make_run(user=staff, base_model=elsewhere)


def test_unpublished_runs_are_hidden_from_everyone_but_staff(client, member_a, staff):
    run = make_run()
    url = reverse("run_detail", args=[run.pk])
    assert client.get(url).status_code == 404
    client.force_login(member_a)
    assert client.get(url).status_code == 404
    assert client.get(reverse("run_status", args=[run.pk])).status_code == 404
    assert f"run {run.pk}" not in client.get(reverse("run_list")).content.decode()
    client.force_login(staff)
    page = client.get(url)
    assert page.status_code == 200 and b"Job spec" in page.content


def test_a_published_run_is_public_but_only_staff_cancel_or_publish(client, member_a, staff):
    run = make_run()
    TrainingRun.objects.filter(pk=run.pk).update(published=True, status="succeeded")
    client.force_login(member_a)
    assert client.get(reverse("run_detail", args=[run.pk])).status_code == 200
    assert client.post(reverse("run_cancel", args=[run.pk])).status_code == 403
    assert client.post(reverse("run_publish", args=[run.pk]), {"published": "0"}).status_code == 403
    with pytest.raises(PermissionDenied):
        job_cancel(user=member_a, job=run)
    assert TrainingRun.objects.get(pk=run.pk).published


def test_staff_cancel_a_run_from_its_page(client, staff):
    run = make_run()
    client.force_login(staff)
    assert client.post(reverse("run_cancel", args=[run.pk])).status_code == 302
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.CANCELLED and "cancelled by sam" in run.failure


def test_the_leaderboard_lists_published_runs_only(client, staff):
    suite = EvaluationSuite.objects.create(name="belebele", path="/suites/belebele", provenance="machine-translated")
    shown, hidden = make_run(), make_run(snapshot=None)
    TrainingRun.objects.filter(pk=shown.pk).update(published=True, status="succeeded")
    for run in (shown, hidden):
        evaluation = EvaluationRun.objects.create(training_run=run, model_path="/m", status="succeeded")
        EvaluationResult.objects.create(evaluation=evaluation, suite=suite, provenance=suite.provenance,
                                        language="de", task="belebele", n=10, acc=0.5, acc_norm=0.4)  # fmt: skip
    page = client.get(reverse("leaderboard")).content.decode()
    assert f"run {shown.pk}" in page and f"run {hidden.pk}<" not in page and "Machine-translated" in page


def test_staff_start_a_run_from_the_form_with_defaults_shown(client, member_a, staff):
    from .run_helpers import make_base_model, make_snapshot

    snapshot, base = make_snapshot(), make_base_model()
    client.force_login(member_a)
    assert client.get(reverse("run_new")).status_code == 404
    client.force_login(staff)
    form = client.get(reverse("run_new"))
    assert form.status_code == 200 and b'value="2e-05"' in form.content
    data = {"snapshot": snapshot.pk, "base_model": base.pk, "method": "sft", "finetuning": "lora",
            "learning_rate": "0.001", "max_steps": "5", "batch_size": "2", "seq_len": "64", "seed": "7"}  # fmt: skip
    response = client.post(reverse("run_new"), data)
    run = TrainingRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("run_detail", args=[run.pk])
    assert (run.method, run.finetuning, run.created_by) == ("sft", "lora", staff)
    assert run.hyperparameters["max_steps"] == 5 and run.manifest["job_spec"]["train"]["learning_rate"] == 0.001


def test_staff_start_a_run_from_the_admin(client, staff):
    from .run_helpers import FAST, make_base_model, make_snapshot

    snapshot, base = make_snapshot(), make_base_model()
    client.force_login(staff)
    response = client.post(reverse("admin:training_trainingrun_add"), {
        "snapshot": snapshot.pk, "base_model": base.pk, "method": "cpt", "finetuning": "full",
        "hyperparameters": json.dumps(FAST), "max_attempts": 3,
    })  # fmt: skip
    assert response.status_code == 302, response.content.decode()[-2000:]
    run = TrainingRun.objects.get()
    assert run.status == "queued" and run.manifest["job_spec"]["snapshot_sha256"] == snapshot.manifest_sha256
    assert client.get(reverse("admin:training_trainingrun_change", args=[run.pk])).status_code == 200
    assert client.get(reverse("admin:training_evaluationrun_changelist")).status_code == 200


def test_the_api_lets_staff_start_and_cancel_runs_and_hides_unpublished_ones(client, member_a, staff):
    from .run_helpers import FAST, make_base_model, make_snapshot

    snapshot, base = make_snapshot(), make_base_model()
    body = {"snapshot": snapshot.pk, "base_model": base.name, "method": "cpt", "hyperparameters": FAST}
    client.force_login(member_a)
    assert client.post(reverse("api_run_list"), body, content_type="application/json").status_code == 403
    client.force_login(staff)
    created = client.post(reverse("api_run_list"), body, content_type="application/json")
    assert created.status_code == 201, created.content
    run_id = created.json()["id"]
    bad = client.post(reverse("api_run_list"), {**body, "hyperparameters": {"nope": 1}}, content_type="application/json")
    assert bad.status_code == 400 and "nope" in bad.content.decode()
    client.force_login(member_a)
    assert client.get(reverse("api_run_detail", args=[run_id])).status_code == 404
    assert client.post(reverse("api_run_cancel", args=[run_id])).status_code == 404
    assert client.get(reverse("api_run_list")).json()["results"] == []
    client.force_login(staff)
    assert client.post(reverse("api_run_cancel", args=[run_id])).json()["status"] == "cancelled"


def test_a_leftover_output_folder_is_never_reused(settings):
    from pathlib import Path

    from training.services.runs import _fresh_folder

    assert _fresh_folder("runs", 41) == str(Path(settings.DATA_DIR) / "runs" / "41")
    (Path(settings.DATA_DIR) / "runs" / "41" / "final").mkdir(parents=True)
    assert _fresh_folder("runs", 41).startswith(str(Path(settings.DATA_DIR) / "runs" / "41-"))
