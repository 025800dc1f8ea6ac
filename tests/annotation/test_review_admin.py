"""The review models in the admin: pages load, answers are read only, staff adjudicate by action."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import timezone

from occiportal import broker

from annotation.models import Annotation, Assignment, Certification, ReviewDecision, ReviewQueue
from annotation.services.argilla_requests import ARGILLA_PUSH_TASK, argilla_push_sweep
from annotation.services.review import review_item_claim, review_submit
from tests.annotation.conftest import make_records

pytestmark = pytest.mark.django_db

MODELS = {m._meta.model_name: m for m in (ReviewQueue, Certification, Assignment, Annotation, ReviewDecision)}


@pytest.fixture
def disputed(queue_de, submission_de, annotator_for):
    make_records(submission_de, 1)
    review_submit(assignment=review_item_claim(queue=queue_de, annotator=annotator_for("ulla")), action="accept")
    review_submit(assignment=review_item_claim(queue=queue_de, annotator=annotator_for("udo")), action="reject", reason="x")
    return ReviewDecision.objects.get()


@pytest.mark.parametrize("model", MODELS)
def test_changelists_and_pages_load(client, staff, disputed, model, django_assert_max_num_queries):
    client.force_login(staff)
    with django_assert_max_num_queries(12):
        assert client.get(reverse(f"admin:annotation_{model}_changelist"), {"q": "1"}).status_code == 200
    first = MODELS[model].objects.first()
    assert client.get(reverse(f"admin:annotation_{model}_change", args=[first.pk])).status_code == 200


def test_answers_are_not_edited_in_the_admin(client, staff, disputed):
    client.force_login(staff)
    assert client.get(reverse("admin:annotation_annotation_add")).status_code == 403


def test_staff_adjudicate_with_an_action(client, staff, disputed):
    client.force_login(staff)
    url = reverse("admin:annotation_reviewdecision_changelist")
    client.post(url, {"action": "reject", "_selected_action": [disputed.pk]})
    disputed.refresh_from_db()
    assert disputed.outcome == "rejected" and disputed.record.status == "rejected"


def _act(client, action, queue):
    return client.post(
        reverse("admin:annotation_reviewqueue_changelist"),
        {"action": action, "_selected_action": [queue.pk]},
        follow=True,
    )


def test_argilla_actions_need_argilla_configured(client, staff, queue_de, settings):
    settings.ARGILLA_API_URL = None
    client.force_login(staff)
    response = _act(client, "argilla_push", queue_de)
    assert "Argilla is not configured" in response.content.decode()


def test_argilla_actions_queue_a_push_or_pull_per_queue(client, staff, queue_de, settings, django_capture_on_commit_callbacks):
    settings.ARGILLA_API_URL = "http://argilla.invalid"
    client.force_login(staff)
    with django_capture_on_commit_callbacks() as callbacks:
        response = _act(client, "argilla_pull", queue_de)
    assert "Pulling answers of 1 queue(s)" in response.content.decode()
    assert len(callbacks) == 1


def test_a_push_asked_for_while_the_broker_is_away_is_queued_and_sent_by_the_sweeper(
    client, staff, queue_de, settings, broker_away, monkeypatch, django_capture_on_commit_callbacks
):  # fmt: skip
    settings.ARGILLA_API_URL = "http://argilla.invalid"
    client.force_login(staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = _act(client, "argilla_push", queue_de)
    assert response.status_code == 200 and "A push of 1 queue(s) to Argilla is queued." in response.content.decode()
    queue_de.refresh_from_db()
    assert queue_de.argilla_push_unsent_since is not None and queue_de.argilla_push_requested_by == staff
    assert argilla_push_sweep() == 0  # within the grace, the send may still be under way

    ReviewQueue.objects.filter(pk=queue_de.pk).update(argilla_push_unsent_since=timezone.now() - timedelta(minutes=3))
    sent = []
    monkeypatch.setattr(broker, "current_app", SimpleNamespace(send_task=lambda name, **kwargs: sent.append((name, kwargs))))
    with django_capture_on_commit_callbacks(execute=True):
        assert argilla_push_sweep() == 1
    assert [(name, kwargs["args"], kwargs["kwargs"]) for name, kwargs in sent] == [
        (ARGILLA_PUSH_TASK, [queue_de.pk], {"user_id": staff.pk})
    ]
    assert ReviewQueue.objects.get(pk=queue_de.pk).argilla_push_unsent_since is None
    assert argilla_push_sweep() == 0
