"""Run page actions: publish and unpublish are explicit, cancelling asks for a confirmation."""

import pytest
from django.urls import reverse

from training.models import TrainingRun

from .run_helpers import make_run

pytestmark = pytest.mark.django_db


def test_publishing_without_an_action_answers_400_and_changes_nothing(client, staff):
    run = make_run()
    TrainingRun.objects.filter(pk=run.pk).update(status="succeeded")
    client.force_login(staff)
    answer = client.post(reverse("run_publish", args=[run.pk]))
    assert answer.status_code == 400 and b"publish or unpublish" in answer.content
    assert client.post(reverse("run_publish", args=[run.pk]), {"action": "nonsense"}).status_code == 400
    assert not TrainingRun.objects.get(pk=run.pk).published


def test_staff_publish_with_the_explicit_action(client, staff):
    run = make_run()
    TrainingRun.objects.filter(pk=run.pk).update(status="succeeded")
    client.force_login(staff)
    assert 'name="action" value="publish"' in client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert client.post(reverse("run_publish", args=[run.pk]), {"action": "publish"}).status_code == 302
    assert TrainingRun.objects.get(pk=run.pk).published


def test_cancelling_without_the_confirmation_answers_400_and_the_run_goes_on(client, staff):
    run = make_run()
    client.force_login(staff)
    page = client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert "data-cancel" in page and 'name="confirm" value="1" required' in page
    assert client.post(reverse("run_cancel", args=[run.pk])).status_code == 400
    assert TrainingRun.objects.get(pk=run.pk).status == TrainingRun.Status.QUEUED
