"""Re-running a run from its manifest and comparing two runs' manifests: page, API and command line."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from training.models import TrainingRun

from .run_helpers import make_run

pytestmark = pytest.mark.django_db


def test_staff_rerun_a_run_from_its_page_and_compare_the_two(client, staff):
    run = make_run()
    client.force_login(staff)
    assert "data-rerun" in client.get(reverse("run_detail", args=[run.pk])).content.decode()
    answer = client.post(reverse("run_rerun", args=[run.pk]))
    again = TrainingRun.objects.exclude(pk=run.pk).get()
    assert answer.url == reverse("run_detail", args=[again.pk]) and again.created_by == staff
    picked = client.get(reverse("run_compare_pick", args=[run.pk]), {"other": again.pk})
    assert picked.url == reverse("run_compare", args=[run.pk, again.pk])
    page = client.get(picked.url).content.decode()
    assert 'data-key="job_spec.run_id"' in page and 'data-key="job_spec.train.seed"' not in page
    assert client.get(reverse("run_compare_pick", args=[run.pk]), {"other": "x"}).status_code == 400


def test_only_staff_rerun_or_compare(client, member_a):
    run, other = make_run(), make_run()
    TrainingRun.objects.filter(pk__in=[run.pk, other.pk]).update(published=True, status="succeeded")
    client.force_login(member_a)
    assert client.post(reverse("run_rerun", args=[run.pk])).status_code == 403
    assert client.get(reverse("run_compare", args=[run.pk, other.pk])).status_code == 403
    assert client.post(reverse("api_run_rerun", args=[run.pk])).status_code == 403
    assert client.get(reverse("api_run_compare", args=[run.pk, other.pk])).status_code == 403
    TrainingRun.objects.filter(pk=other.pk).update(published=False)
    assert client.get(reverse("run_compare", args=[run.pk, other.pk])).status_code == 404
    assert TrainingRun.objects.count() == 2


def test_the_api_reruns_and_compares(client, staff):
    run = make_run()
    client.force_login(staff)
    answer = client.post(reverse("api_run_rerun", args=[run.pk]))
    assert answer.status_code == 201
    differences = client.get(reverse("api_run_compare", args=[run.pk, answer.json()["id"]])).json()["differences"]
    assert set(differences) == {"job_spec.run_id", "job_spec.output_dir"}


def test_the_commands_rerun_and_compare():
    run = make_run()
    out = StringIO()
    call_command("rerun_run", f"run-{run.pk}", stdout=out)
    again = json.loads(out.getvalue())
    assert again["rerun_of"] == run.pk and again["run"] != run.pk
    out = StringIO()
    call_command("compare_runs", str(run.pk), str(again["run"]), stdout=out)
    assert set(json.loads(out.getvalue())) == {"job_spec.run_id", "job_spec.output_dir"}
