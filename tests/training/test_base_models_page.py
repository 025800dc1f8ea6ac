"""The base-model page: staff register models, queue the tiny demo model, see which runs used each."""

import pytest
from django.urls import reverse

from training.models import BaseModel
from training.services import base_models
from training.services.base_models import base_model_create_tiny

from .run_helpers import make_base_model, make_run

pytestmark = pytest.mark.django_db


def test_the_run_form_points_to_the_base_model_page_while_none_is_registered(client, staff):
    client.force_login(staff)
    page = client.get(reverse("run_new")).content.decode()
    assert "data-no-base-model" in page and reverse("base_model_list") in page
    make_base_model()
    assert "data-no-base-model" not in client.get(reverse("run_new")).content.decode()


def test_staff_register_a_hub_model_and_see_the_runs_that_used_each(client, staff):
    run = make_run()
    client.force_login(staff)
    answer = client.post(reverse("base_model_list"), {"name": "mistral", "source": "mistralai/Mistral-7B-v0.1", "revision": "abc123"})
    assert answer.status_code == 302
    assert BaseModel.objects.get(name="mistral").revision == "abc123"
    page = client.get(reverse("base_model_list")).content.decode()
    assert 'data-base-model="mistral"' in page and reverse("run_detail", args=[run.pk]) in page


def test_a_refused_registration_answers_400_with_the_reason(client, staff, tmp_path):
    client.force_login(staff)
    answer = client.post(reverse("base_model_list"), {"name": "bad name", "source": str(tmp_path / "missing")})
    assert answer.status_code == 400 and 'role="alert"' in answer.content.decode()
    assert not BaseModel.objects.exists()


def test_the_page_is_staff_only(client, member_a):
    client.force_login(member_a)
    assert client.get(reverse("base_model_list")).status_code == 404
    assert client.post(reverse("base_model_tiny"), {"name": "tiny"}).status_code == 404


def test_the_tiny_button_queues_the_build_once_per_name(client, staff, monkeypatch):
    sent = []
    monkeypatch.setattr(base_models, "send_on_commit", lambda name, **kw: sent.append((name, kw["args"])))
    client.force_login(staff)
    assert client.post(reverse("base_model_tiny"), {"name": "demo"}).status_code == 302
    assert sent == [(base_models.BUILD_TINY, ["demo"])]
    make_base_model("demo")
    client.post(reverse("base_model_tiny"), {"name": "demo"})
    assert len(sent) == 1


def test_the_tiny_build_registers_a_model_and_is_idempotent(tmp_path):
    model = base_model_create_tiny(name="demo", out=tmp_path / "demo", vocab_size=300, hidden_size=32, num_layers=1,
                                   num_heads=2, num_kv_heads=1, max_position_embeddings=64)  # fmt: skip
    assert model.is_tiny and (tmp_path / "demo" / "config.json").is_file() and model.revision
    assert base_model_create_tiny(name="demo") == model
