"""End to end on the CPU: a snapshot's preference test split, evaluated by the job with the tiny model, on the pages.

The portal makes the suite and the specs; the job code runs in this process
(as the GPU worker's child would) and its events go through the portal's
``run_event_record``, as the worker sends them.
"""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

pytest.importorskip("torch")

from tests.training.jobs.conftest import Recorder  # noqa: E402
from training.jobs.contract import ItemScores, JobSpec  # noqa: E402
from training.jobs.evaluate import run_evaluation  # noqa: E402
from training.models import BaseModel, EvaluationResult, TrainingRun  # noqa: E402
from training.services.run_events import run_event_record  # noqa: E402
from training.services.runs import evaluation_run_create  # noqa: E402
from training.services.suites import snapshot_test_suite  # noqa: E402
from training.snapshots.writer import ShardWriter, table_for  # noqa: E402

from .run_helpers import make_run, make_snapshot  # noqa: E402

pytestmark = pytest.mark.django_db
TINY = ["--vocab-size", "512", "--hidden-size", "64", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--max-positions", "256"]
CONVERSATION = [{"role": "system", "content": "Antworte kurz."}, {"role": "user", "content": "Was backt man mit Mehl?"}]
PAIRS = {  # as snapshots write TRL's pairs: a conversation prompt in prompt_messages, one rejected answer per row
    "prompt": ["Welche Farbe hat der Himmel?", None, "Wer schläft?"],
    "prompt_messages": [None, CONVERSATION, None],
    "chosen": ["Der Himmel ist blau.", "Brot.", "Die Katze schläft in der Sonne."],
    "rejected": ["Grün wie Gras.", "Eisen.", "Vier."],
}  # fmt: skip


def write_preference_split(snapshot) -> None:
    """A ``test`` shard of preference rows in the snapshot writer's schema, next to the documents' shard."""
    n = len(PAIRS["chosen"])
    writer = ShardWriter(Path(snapshot.uri), "de", "test-pref", rows_per_shard=100, row_group_rows=100)
    writer.add(table_for({"kind": ["preference"] * n, "language": ["de"] * n, **PAIRS}, n))
    writer.close()


def evaluate_in_process(evaluation) -> None:
    """Run the job the portal queued, and record its events as the GPU worker would send them."""
    events = Recorder()
    run_evaluation(JobSpec.from_dict(evaluation.manifest["job_spec"]), events)
    for seq, event in enumerate(events):
        run_event_record(run_id=evaluation.job_id, seq=seq, event=event)
    evaluation.refresh_from_db()
    assert evaluation.status == "succeeded", evaluation.failure


def test_a_preference_split_is_scored_with_stderrs_and_shown_against_the_base_model(client, staff):
    call_command("create_base_model", "tiny", "--tiny", *TINY, stdout=StringIO())
    base = BaseModel.objects.get(name="tiny")
    snapshot = make_snapshot(name="prefs")
    write_preference_split(snapshot)
    suite = snapshot_test_suite(snapshot=snapshot)
    lines = [json.loads(line) for line in (Path(suite.path) / "de.jsonl").read_text().splitlines()]
    assert lines[-2] == {"task": "preference", "prompt": CONVERSATION, "chosen": "Brot.", "rejected": ["Eisen."]}

    run = make_run(snapshot=snapshot, base_model=base)
    TrainingRun.objects.filter(pk=run.pk).update(status="succeeded", published=True)
    # The run's "checkpoint" is the base model itself: the same scores item by item, so no delta may be marked.
    for evaluation in (evaluation_run_create(created_by=staff, model_path=base.source, suites=[suite], training_run=run),
                       evaluation_run_create(created_by=staff, model_path=base.source, suites=[suite], base_model=base)):
        evaluate_in_process(evaluation)

    result = EvaluationResult.objects.get(evaluation__training_run=run, language="de", task="preference")
    assert result.n_pairs == 3 and result.pref_acc in (0, 1 / 3, 2 / 3, 1) and result.pref_acc_stderr is not None
    assert ItemScores.from_dict(result.item_scores).n_items == 3
    documents = EvaluationResult.objects.get(evaluation__training_run=run, language="de", task=suite.name)
    assert documents.word_perplexity_stderr is not None and documents.n_docs == 2

    page = client.get(reverse("leaderboard")).content.decode()
    assert 'data-metric="pref_acc"' in page and page.count("data-stderr") >= 4  # pref_acc, perplexities of de and fr
    assert "data-significant" not in page and "data-score-legend" in page
    page = client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert 'data-metric="pref_acc"' in page and "data-significant" not in page and "0.0000 … 0.0000" in page
