"""Results published back: a partner's models and scores, what a submission went into, manifests, re-runs."""

import json
from pathlib import Path

import pytest
from django.urls import reverse

from training.models import EvaluationResult, EvaluationRun, EvaluationSuite, SnapshotSubmission, TrainingRun
from training.run_selectors import manifest_diff, runs_containing_submission
from training.services.runs import training_run_rerun
from training.services.suites import snapshot_test_suite

from .run_helpers import make_run, make_snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def published_run(ingested, partner_a, german):
    submission = ingested([{"text": "Ein kurzer deutscher Text über das Wetter im Herbst."}], partner=partner_a, language=german)
    snapshot = make_snapshot()
    SnapshotSubmission.objects.create(snapshot=snapshot, submission=submission, partner=partner_a, language="de",
                                      license="CC-BY-4.0", records=1)  # fmt: skip
    run = make_run(snapshot=snapshot)
    TrainingRun.objects.filter(pk=run.pk).update(published=True, status="succeeded")
    suite = EvaluationSuite.objects.create(name="arc-de", path="/suites/arc-de", provenance="human-translated")
    evaluation = EvaluationRun.objects.create(training_run=run, model_path="/m", status="succeeded")
    EvaluationResult.objects.create(evaluation=evaluation, suite=suite, provenance=suite.provenance,
                                    language="de", task="arc", n=20, acc=0.55, acc_stderr=0.1141)  # fmt: skip
    return run, submission


def test_a_partner_sees_the_models_its_data_went_into_and_their_scores(client, published_run, member_a, member_b, partner_a):
    run, submission = published_run
    client.force_login(member_a)
    page = client.get(reverse("partner_models", args=[partner_a.slug])).content.decode()
    assert f"run {run.pk}" in page and "0.5500" in page and "± 0.1141" in page and "Translated by people" in page
    client.force_login(member_b)
    assert client.get(reverse("partner_models", args=[partner_a.slug])).status_code == 404


def test_a_withdrawn_submission_shows_which_models_contain_it(published_run, member_a):
    run, submission = published_run
    assert list(runs_containing_submission(member_a, submission)) == [run]


def test_the_run_page_shows_lineage_and_deltas_to_the_base_model(client, published_run, staff, partner_a):
    run, submission = published_run
    base = EvaluationRun.objects.create(base_model=run.base_model, model_path="/b", status="succeeded")
    EvaluationResult.objects.create(evaluation=base, provenance="native", language="de", task="arc", n=20, acc=0.40)
    client.force_login(staff)
    page = client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert partner_a.name in page and reverse("submission_detail", args=[submission.pk]) in page
    assert "0.5500" in page and "0.4000" in page and "0.1500" in page


def test_a_rerun_from_the_manifest_differs_only_in_identity(staff):
    run = make_run()
    again = training_run_rerun(created_by=staff, run=run)
    diff = manifest_diff(run.manifest, again.manifest)
    assert set(diff) == {"job_spec.run_id", "job_spec.output_dir"}
    assert again.hyperparameters == run.manifest["job_spec"]["train"]


def test_a_snapshot_test_split_becomes_a_perplexity_suite():
    snapshot = make_snapshot()
    suite = snapshot_test_suite(snapshot=snapshot)
    lines = (Path(suite.path) / "de.jsonl").read_text().splitlines()
    assert len(lines) == 2 and set(json.loads(lines[0])) == {"text"}
    assert snapshot_test_suite(snapshot=snapshot) == suite


def test_portal_evaluation_items_in_the_test_split_become_multiple_choice_items():
    import pyarrow as pa
    import pyarrow.parquet as pq

    snapshot = make_snapshot(name="with-items")
    item = {"kind": "evaluation", "language": "de", "text": None, "question": "Welche Farbe hat der Himmel?",
            "choices": ["blau", "grün"], "answer": 0}  # fmt: skip
    document = {"kind": "pretraining", "language": "de", "text": "Ein Dokument.", "question": None, "choices": None, "answer": None}
    pq.write_table(pa.Table.from_pylist([document, item]), Path(snapshot.uri) / "de" / "test-00000.parquet")
    lines = [json.loads(line) for line in (Path(snapshot_test_suite(snapshot=snapshot).path) / "de.jsonl").read_text().splitlines()]
    assert lines == [{"text": "Ein Dokument."}, {"question": "Welche Farbe hat der Himmel?", "choices": ["blau", "grün"], "answer": 0}]


def test_the_evaluate_command_queues_a_base_model_on_a_suite_and_a_snapshot(tmp_path):
    from io import StringIO

    from django.conf import settings
    from django.core.management import call_command

    from .run_helpers import make_base_model

    make_base_model("tiny")
    snapshot = make_snapshot()
    folder = Path(settings.DATA_DIR) / "suites" / "belebele"
    folder.mkdir(parents=True)
    (folder / "pt-BR.jsonl").write_text(json.dumps({"question": "Q?", "choices": ["a", "b"], "answer": 1}) + "\n")
    out = StringIO()
    call_command("evaluate", "--model", "tiny", "--suite", str(folder), "--provenance", "machine-translated",
                 "--snapshot", snapshot.label, stdout=out)  # fmt: skip
    printed = json.loads(out.getvalue())
    evaluation = EvaluationRun.objects.get(pk=printed["evaluation"])
    assert printed["status"] == "queued" and evaluation.base_model.name == "tiny"
    suites = evaluation.manifest["job_spec"]["eval"]["suites"]
    assert len(suites) == 2 and EvaluationSuite.objects.get(name="belebele").provenance == "machine-translated"


def test_the_tiny_tokenizer_learns_from_the_portals_own_text(ingested, partner_a, german):
    from training.services.base_models import _strings, demo_texts, portal_texts

    assert portal_texts() == [] and len(demo_texts()) == 30
    ingested([{"text": "Ein Satz über die Nordsee und ihre Inseln."}], partner=partner_a, language=german)
    assert any("Nordsee" in text for text in portal_texts())
    chat = {"messages": [{"role": "user", "content": "Hallo?"}, {"role": "assistant", "content": "Guten Tag."}]}
    assert _strings(chat) == ["Hallo?", "Guten Tag."]


def _lm_eval_results(model: str, suite_path: str) -> dict:
    """What training/jobs/evaluate.py's to_lm_eval_results writes, trimmed to the fields that name places."""
    return {
        "results": {"arc_de": {"alias": "arc_de", "acc,none": 0.55, "acc_stderr,none": "N/A"}},
        "configs": {"arc_de": {"task": "arc_de", "tag": ["arc"], "dataset_path": suite_path, "dataset_name": "de"}},
        "n-samples": {"arc_de": {"original": 20, "effective": 20}},
        "config": {"model": "hf", "model_args": f"pretrained={model},revision=abc123,max_length=64", "batch_size": 8},
        "model_source": "hf", "model_name": model, "model_revision": "abc123",
        "model_name_sanitized": model.replace("/", "__"), "git_hash": "c616be1",
    }  # fmt: skip


def test_a_published_runs_results_file_names_no_server_paths_for_non_staff(client, published_run, member_b, staff, settings):
    run, _ = published_run
    evaluation = run.evaluations.get()
    folder = Path(settings.DATA_DIR) / "evaluations" / str(evaluation.pk)
    folder.mkdir(parents=True)
    checkpoint = f"{run.output_dir}/final"
    (folder / "results.json").write_text(json.dumps(_lm_eval_results(checkpoint, "/srv/suites/arc-de")))
    EvaluationRun.objects.filter(pk=evaluation.pk).update(
        model_path=checkpoint, manifest={"results_path": str(folder / "results.json")}
    )
    url = reverse("evaluation_results", args=[evaluation.pk])
    for viewer in (None, member_b):
        if viewer:
            client.force_login(viewer)
        response = client.get(url)
        text = b"".join(response.streaming_content if response.streaming else [response.content]).decode()
        assert response.status_code == 200 and str(settings.DATA_DIR) not in text and "/srv/suites" not in text
        data = json.loads(text)
        assert data["results"]["arc_de"]["acc,none"] == 0.55 and data["configs"]["arc_de"]["dataset_path"] == "arc-de"
        assert data["model_name"] == f"run-{run.pk}" and data["config"]["model_args"].startswith(f"pretrained=run-{run.pk},")
    client.force_login(staff)
    response = client.get(url)
    assert json.loads(b"".join(response.streaming_content))["model_name"] == checkpoint  # the file as the job wrote it


def test_leaderboard_partner_and_list_pages_name_no_server_paths(client, published_run, member_a, partner_a, settings):
    run, _ = published_run
    TrainingRun.objects.filter(pk=run.pk).update(checkpoint_path=f"{run.output_dir}/final", log_tail="secret log")
    pages = [reverse("leaderboard"), reverse("run_list")]
    for url in pages:
        text = client.get(url).content.decode()
        assert f"run {run.pk}" in text and str(settings.DATA_DIR) not in text and "secret log" not in text, url
    client.force_login(member_a)
    for url in [*pages, reverse("partner_models", args=[partner_a.slug])]:
        text = client.get(url).content.decode()
        assert f"run {run.pk}" in text and str(settings.DATA_DIR) not in text and "secret log" not in text, url
