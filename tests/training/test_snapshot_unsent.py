"""Snapshot builds and Hub pushes asked for while the broker is away: the request succeeds, the page
says queued, and the training sweeper sends them once the grace has passed."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import timezone

from occiportal import broker
from training.models import Snapshot
from training.services.hub import PUSH_TASK
from training.services.snapshot_build import snapshot_build
from training.services.snapshots import BUILD_TASK, snapshot_create
from training.tasks import runs_sweep

FORM = {"name": "web", "languages": ["de", "fr"], "kinds": ["pretraining"], "license": "CC-BY-4.0", "seed": 1,
        "train": 1, "validation": 0, "test": 0, "build": "1"}


@pytest.fixture
def broker_back(monkeypatch):
    """The broker is reachable again; what reaches it is listed."""
    sent = []
    monkeypatch.setattr(broker, "current_app", SimpleNamespace(send_task=lambda name, **kwargs: sent.append((name, kwargs["args"]))))
    return sent


def age(snapshot, field):
    Snapshot.objects.filter(pk=snapshot.pk).update(**{field: timezone.now() - timedelta(minutes=3)})


def test_a_build_asked_for_while_the_broker_is_away_is_queued_and_sent_by_the_sweeper(
    client, staff, corpus, broker_away, monkeypatch, django_capture_on_commit_callbacks
):  # fmt: skip
    client.force_login(staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("snapshot_new"), FORM, follow=True)
    snapshot = Snapshot.objects.get(name="web")
    assert response.redirect_chain == [(reverse("snapshot_detail", args=[snapshot.pk]), 302)]
    assert str(list(response.context["messages"])[0]) == "Snapshot web@1 is queued for building."
    assert b'<span class="badge badge-draft">Queued</span>' in response.content
    assert client.get(reverse("snapshot_status", args=[snapshot.pk])).json()["status_display"] == "Queued"
    assert snapshot.status == Snapshot.Status.DRAFT and snapshot.build_unsent_since is not None
    assert runs_sweep() == 0  # within the grace, the send may still be under way

    age(snapshot, "build_unsent_since")
    sent = []
    monkeypatch.setattr(broker, "current_app", SimpleNamespace(send_task=lambda name, **kwargs: sent.append((name, kwargs["args"]))))
    with django_capture_on_commit_callbacks(execute=True):
        assert runs_sweep() == 1
    assert sent == [(BUILD_TASK, [snapshot.pk])]
    assert Snapshot.objects.get(pk=snapshot.pk).build_unsent_since is None
    assert runs_sweep() == 0


def test_a_build_the_broker_took_is_not_sent_again(corpus, broker_back, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        snapshot = snapshot_create(name="web", license="CC-BY-4.0", parameters={"languages": ["de"]})
    assert broker_back == [(BUILD_TASK, [snapshot.pk])]
    assert Snapshot.objects.get(pk=snapshot.pk).build_unsent_since is None
    Snapshot.objects.filter(pk=snapshot.pk).update(created_at=timezone.now() - timedelta(hours=1))
    assert runs_sweep() == 0


def test_a_started_build_is_not_sent_again_even_if_its_mark_stayed(corpus, django_capture_on_commit_callbacks):
    snapshot = snapshot_create(name="web", license="CC-BY-4.0", parameters={"languages": ["de"]})  # a `db` test: never sent
    snapshot_build(snapshot_id=snapshot.pk)  # yet a worker had it: the process died before clearing the mark
    age(snapshot, "build_unsent_since")
    assert runs_sweep() == 0


def test_a_hub_push_asked_for_while_the_broker_is_away_is_queued_and_sent_by_the_sweeper(
    client, staff, corpus, settings, monkeypatch, django_capture_on_commit_callbacks
):  # fmt: skip
    from tests.conftest import broker_unreachable

    settings.SNAPSHOT_HUB_NAMESPACE = "occiportal"
    snapshot = snapshot_build(snapshot_id=snapshot_create(name="web", license="CC-BY-4.0", parameters={"languages": ["de"]},
                                                          enqueue=False).pk)  # fmt: skip
    client.force_login(staff)
    with broker_unreachable(), django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("snapshot_hub_push", args=[snapshot.pk]), {"repo_id": "occiportal/web"}, follow=True)
    assert response.status_code == 200 and "queued" in str(list(response.context["messages"])[0])
    assert b'data-hub-status="queued"' in response.content and b">Queued<" in response.content
    snapshot.refresh_from_db()
    assert snapshot.hub_status == Snapshot.HubStatus.QUEUED and snapshot.hub_unsent_since is not None
    assert runs_sweep() == 0

    age(snapshot, "hub_unsent_since")
    sent = []
    monkeypatch.setattr(broker, "current_app", SimpleNamespace(send_task=lambda name, **kwargs: sent.append((name, kwargs["args"]))))
    with django_capture_on_commit_callbacks(execute=True):
        assert runs_sweep() == 1
    assert sent == [(PUSH_TASK, [snapshot.pk])]
    assert Snapshot.objects.get(pk=snapshot.pk).hub_unsent_since is None
    assert runs_sweep() == 0


def test_a_push_refused_on_the_page_is_a_message_not_an_error(client, staff, corpus, broker_back, django_capture_on_commit_callbacks):
    snapshot = snapshot_build(snapshot_id=snapshot_create(name="web", license="CC-BY-4.0", parameters={"languages": ["de"]},
                                                          enqueue=False).pk)  # fmt: skip
    client.force_login(staff)
    url = reverse("snapshot_hub_push", args=[snapshot.pk])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"repo_id": "occiportal/web"})
        response = client.post(url, {"repo_id": "occiportal/web"}, follow=True)
    assert response.status_code == 200 and "already queued" in str(list(response.context["messages"])[-1])
    assert broker_back == [(PUSH_TASK, [snapshot.pk])]
