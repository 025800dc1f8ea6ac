"""The run page: a loss chart with labelled axes, drawn on the server; the live regions it follows a run by."""

import pytest
from django.urls import reverse

from training.jobs.contract import Done, Heartbeat, Progress, Start
from training.models import EvaluationRun, EvaluationSuite, RunEvent, TrainingRun
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


def test_the_one_step_dot_keeps_svg_decimals_in_french(client, staff):
    run = make_run()
    RunEvent.objects.create(run=run, attempt=1, seq=0, kind="progress", payload={"step": 1, "loss": 2.5})
    client.force_login(staff)
    client.cookies["django_language"] = "fr"
    page = client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert '<circle cx="370.0" cy="90.0"' in page  # SVG coordinates, not "370,0"
    assert "data-loss-max>2,5000<" in page  # the labels people read are French


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


def test_a_running_run_page_follows_its_status_json_and_a_finished_one_does_not(client, staff):
    run = make_run()
    client.force_login(staff)
    page = client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert f'data-run-status-url="{reverse("run_status", args=[run.pk])}"' in page and "js/run_live.js" in page
    assert '<noscript><meta http-equiv="refresh"' in page  # without JavaScript, the page reloads itself

    run_event_record(run_id=run.job_id, seq=0, event=Done(attempt=1, steps=4, final_loss=1.5).to_dict())
    page = client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert "data-run-status-url" not in page and "run_live.js" not in page and "refresh" not in page


def test_status_json_renders_the_live_regions_with_the_latest_events_for_staff(client, staff):
    run = make_run()
    events = [Start(attempt=1, kind="train", total_steps=4), Progress(attempt=1, step=1, loss=3.5),
              Heartbeat(attempt=1), Progress(attempt=1, step=2, loss=2.25, tokens_per_second=512.0)]
    for seq, event in enumerate(events):
        run_event_record(run_id=run.job_id, seq=seq, event=event.to_dict())
    client.force_login(staff)
    answer = client.get(reverse("run_status", args=[run.pk])).json()
    assert answer["status"] == "running" and answer["finished"] is False
    regions = answer["regions"]
    assert set(regions) == {"badge", "progress", "actions", "state", "evaluation", "events"}
    assert "Step 2 of 4" in regions["progress"] and "data-loss-max>3.5000<" in regions["progress"]
    assert "512 tokens/s" in regions["progress"] and "data-cancel" in regions["actions"]
    listed = [line.split('data-event="')[1].split('"')[0] for line in regions["events"].split("<li")[1:]]
    assert listed == ["progress", "progress", "start"]  # newest first, no heartbeat

    run_event_record(run_id=run.job_id, seq=4, event=Done(attempt=1, steps=4, final_loss=1.5).to_dict())
    answer = client.get(reverse("run_status", args=[run.pk])).json()
    assert answer["finished"] is True and "data-cancel" not in answer["regions"]["actions"]
    assert ">Publish</button>" in answer["regions"]["actions"] and "badge-succeeded" in answer["regions"]["badge"]


def test_status_json_gives_others_no_staff_regions(client, member_a):
    run = make_run()
    TrainingRun.objects.filter(pk=run.pk).update(published=True)
    client.force_login(member_a)
    regions = client.get(reverse("run_status", args=[run.pk])).json()["regions"]
    assert set(regions) == {"badge", "progress", "state", "evaluation"}  # no forms, no events for others


def test_a_long_run_draws_as_many_points_as_the_chart_has_pixels_and_keeps_its_spike():
    points = [(step, 3.0 - step / 100_000) for step in range(1, 100_001)]
    points[54_321] = (54_322, 9.0)  # one spike
    chart = loss_chart(points)
    drawn = [tuple(map(float, xy.split(","))) for xy in chart["points"].split()]
    assert len(drawn) <= 2 * 600
    assert min(y for _, y in drawn) == chart["top"]  # the spike is the highest loss: the top of the chart
    assert chart["step_min"] == 1 and chart["step_max"] == 100_000 and chart["loss_max"] == 9.0
