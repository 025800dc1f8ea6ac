"""The run page: a loss chart with labelled axes, drawn on the server."""

import pytest
from django.urls import reverse

from training.jobs.contract import Done
from training.models import EvaluationRun, EvaluationSuite, RunEvent
from training.run_selectors import loss_chart
from training.services.run_events import run_event_record

from .run_helpers import make_run

pytestmark = pytest.mark.django_db


def test_the_loss_chart_labels_its_axes_with_min_and_max():
    chart = loss_chart([(1, 3.5), (2, 2.25), (4, 1.0)])
    assert (chart["step_min"], chart["step_max"], chart["loss_min"], chart["loss_max"]) == (1, 4, 1.0, 3.5)
    first, *_, last = [tuple(map(float, p.split(","))) for p in chart["points"].split()]
    assert first == (chart["left"], chart["top"]) and last == (chart["right"], chart["bottom"])


def test_a_one_step_run_shows_a_dot_on_labelled_axes(client, staff):
    run = make_run()
    RunEvent.objects.create(run=run, attempt=1, seq=0, kind="progress", payload={"step": 1, "loss": 2.5})
    client.force_login(staff)
    page = client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert "<circle" in page and "<polyline" not in page
    assert "data-loss-max>2.5000<" in page and "data-step-max>1<" in page


def test_the_evaluation_table_names_task_suite_provenance_and_counts_items_and_documents_apart(client, staff):
    run = make_run()
    suite = EvaluationSuite.objects.create(name="belebele", path="/suites/belebele", provenance="machine-translated")
    evaluation = EvaluationRun.objects.create(training_run=run, model_path="/m", status="running")
    evaluation.suites.set([suite])
    scores = {"de": {"reading": {"suite": "belebele", "n": 12, "n_docs": 5, "acc": 0.5, "word_perplexity": 9.0}}}
    run_event_record(run_id=evaluation.job_id, seq=0, event=Done(attempt=1, scores=scores).to_dict())
    client.force_login(staff)
    page = client.get(reverse("run_detail", args=[run.pk])).content.decode()
    row = page.split("<td>de</td>")[1].split("</tr>")[0]
    assert "<td>reading</td><td>belebele</td><td>Machine-translated</td>" in row.replace("\n", "").replace("  ", "")
    assert "data-n-items>7<" in row and "data-n-docs>5<" in row
