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
    assert client.post(reverse("run_publish", args=[run.pk]), {"action": "unpublish"}).status_code == 403
    with pytest.raises(PermissionDenied):
        job_cancel(user=member_a, job=run)
    assert TrainingRun.objects.get(pk=run.pk).published


def test_staff_cancel_a_run_from_its_page(client, staff):
    run = make_run()
    client.force_login(staff)
    assert client.post(reverse("run_cancel", args=[run.pk]), {"confirm": "1"}).status_code == 302
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


def test_the_run_form_has_human_labels_marked_for_translation(client, staff):
    from django.utils.functional import Promise

    from training.web.run_forms import TrainingRunForm

    for name, field in TrainingRunForm().fields.items():
        assert isinstance(field.label, Promise), name
        assert isinstance(field.help_text, Promise) and str(field.help_text), name
    client.force_login(staff)
    page = client.get(reverse("run_new")).content.decode()
    for label in ("Base model", "Sequence length (tokens)", "LoRA rank", "Warm-up share of steps", "Learning rate",
                  "Gradient accumulation steps", "Random seed", "Fine-tuning"):
        assert f"{label}:</label>" in page, label
    for derived in ("Seq len", "Lora r", "Lora alpha", "Grad accum", "Warmup ratio", "Save every", "Eval suites"):
        assert derived not in page, derived


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


# -- what a published run shows to whom ----------------------------------------------

LOG_SECRET = "worker gpu-7 loaded /srv/secret/cache"
FAILURE_SECRET = "attempt 1 retried: CUDA OOM in /srv/secret/trace.py"


@pytest.fixture
def shared_run(ingested, partner_a, partner_b, member_b, german, french):
    """A published run on a snapshot holding one German submission of Alpha and one French of Beta."""
    from training.models import SnapshotSubmission

    from .run_helpers import make_snapshot

    mine = ingested([{"text": "Ein kurzer deutscher Text über das Wetter im Herbst."}], partner=partner_a, language=german)
    theirs = ingested([{"text": "Un court texte français sur la pluie d'automne."}], partner=partner_b, language=french,
                      user=member_b)  # fmt: skip
    snapshot = make_snapshot()
    for submission, partner, code in ((mine, partner_a, "de"), (theirs, partner_b, "fr")):
        SnapshotSubmission.objects.create(snapshot=snapshot, submission=submission, partner=partner, language=code,
                                          license="CC-BY-4.0", records=1)  # fmt: skip
    run = make_run(snapshot=snapshot)
    TrainingRun.objects.filter(pk=run.pk).update(
        published=True, status="succeeded", checkpoint_path=f"{run.output_dir}/final", log_tail=LOG_SECRET,
        failure=FAILURE_SECRET,
    )  # fmt: skip
    run.refresh_from_db()
    return run, {"alpha": mine, "beta": theirs}


def _no_internals(text, run, settings):
    assert str(settings.DATA_DIR) not in text  # checkpoint, output folder, base model folder
    assert run.checkpoint_path not in text and run.base_model.source not in text
    assert LOG_SECRET not in text and FAILURE_SECRET not in text and "Log tail" not in text


@pytest.mark.parametrize("who", ["anonymous", "unrelated partner", "alpha", "beta"])
def test_a_published_run_page_shows_the_public_what_went_in_but_no_internals(client, shared_run, who, member_a,
                                                                             member_b, partner_a, partner_b, settings):
    from occiportal.models import Partner
    from tests.conftest import make_user

    run, submissions = shared_run
    gamma = Partner.objects.create(slug="gamma", name="Gamma Group")
    viewer = {"anonymous": None, "unrelated partner": make_user("otto", partner=gamma), "alpha": member_a,
              "beta": member_b}[who]  # fmt: skip
    if viewer:
        client.force_login(viewer)
    page = client.get(reverse("run_detail", args=[run.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    _no_internals(text, run, settings)
    # the public part: model, snapshot, partners and their languages, scores, status
    assert run.base_model.name in text and run.snapshot.label in text and "Succeeded" in text
    assert partner_a.name in text and partner_b.name in text
    links = {slug: reverse("submission_detail", args=[s.pk]) in text for slug, s in submissions.items()}
    # only the submissions the viewer may open are linked: their own partner's
    assert links == {"alpha": viewer == member_a, "beta": viewer == member_b}
    for slug, opens in links.items():
        status = client.get(reverse("submission_detail", args=[submissions[slug].pk])).status_code
        assert (status == 200) == opens


def test_staff_see_the_whole_run_page(client, shared_run, staff):
    run, submissions = shared_run
    client.force_login(staff)
    text = client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert LOG_SECRET in text and FAILURE_SECRET in text and run.checkpoint_path in text
    assert run.base_model.source in text and "Job spec" in text
    assert all(reverse("submission_detail", args=[s.pk]) in text for s in submissions.values())


@pytest.mark.parametrize("who", ["anonymous", "member"])
def test_a_published_runs_status_json_has_no_paths_or_failures_for_non_staff(client, shared_run, who, member_b,
                                                                            settings):
    run, _ = shared_run
    if who == "member":
        client.force_login(member_b)
    response = client.get(reverse("run_status", args=[run.pk]))
    assert response.status_code == 200
    summary = response.json()
    assert summary["status"] == "succeeded" and summary["steps"] == run.step
    assert "checkpoint" not in summary and "failure" not in summary
    _no_internals(response.content.decode(), run, settings)


def test_staff_read_the_checkpoint_in_status_json(client, shared_run, staff):
    run, _ = shared_run
    client.force_login(staff)
    summary = client.get(reverse("run_status", args=[run.pk])).json()
    assert summary["checkpoint"] == run.checkpoint_path and summary["failure"] == FAILURE_SECRET


def test_the_run_api_gives_non_staff_no_paths_or_failures(client, shared_run, member_a, staff, settings):
    run, _ = shared_run
    detail, listing = reverse("api_run_detail", args=[run.pk]), reverse("api_run_list")
    assert client.get(detail).status_code in (401, 403) and client.get(listing).status_code in (401, 403)
    client.force_login(member_a)
    one, many = client.get(detail), client.get(listing)
    assert one.status_code == 200 and many.status_code == 200
    assert one.json()["base_model"] == run.base_model.name and many.json()["results"][0]["id"] == run.pk
    for response in (one, many):
        _no_internals(response.content.decode(), run, settings)
    assert "checkpoint_path" not in one.json() and "failure" not in one.json()
    client.force_login(staff)
    assert client.get(detail).json()["checkpoint_path"] == run.checkpoint_path
    assert client.get(listing).json()["results"][0]["failure"] == FAILURE_SECRET
