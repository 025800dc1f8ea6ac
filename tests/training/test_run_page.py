"""The run page: a loss chart with labelled axes, drawn on the server."""

import pytest
from django.urls import reverse

from training.models import RunEvent
from training.run_selectors import loss_chart

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
