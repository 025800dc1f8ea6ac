"""A run's hyper-parameters and evaluation suites are checked when it is created, not on the GPU host."""

import pytest
from django.urls import reverse

from training.models import EvaluationSuite, TrainingRun

from .run_helpers import FAST, make_base_model, make_snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def outside_suite(tmp_path):
    return EvaluationSuite.objects.create(name="elsewhere", path=str(tmp_path.parent / "elsewhere"))


def api_body(**changes):
    return {"snapshot": make_snapshot().pk, "base_model": make_base_model().name, "method": "cpt",
            "hyperparameters": FAST, **changes}  # fmt: skip


def test_the_api_refuses_a_hyper_parameter_of_the_wrong_type_naming_it(client, staff):
    client.force_login(staff)
    body = api_body(hyperparameters={**FAST, "seq_len": "../../etc"})
    answer = client.post(reverse("api_run_list"), body, content_type="application/json")
    assert answer.status_code == 400
    assert answer.json() == {"hyperparameters": ["seq_len must be int; got '../../etc'"]}
    assert not TrainingRun.objects.exists()


def test_the_api_refuses_an_evaluation_suite_outside_the_storage_roots(client, staff, outside_suite, settings):
    inside = EvaluationSuite.objects.create(name="inside", path=str(settings.DATA_DIR / "suites" / "inside"))
    client.force_login(staff)
    answer = client.post(reverse("api_run_list"), api_body(eval_suites=["inside", "elsewhere"]), content_type="application/json")
    assert answer.status_code == 400
    [problem] = answer.json()["eval_suites"]
    assert "evaluation suite 'elsewhere' is outside the allowed storage roots" in problem
    assert not TrainingRun.objects.exists()
    accepted = client.post(reverse("api_run_list"), api_body(eval_suites=[inside.name]), content_type="application/json")
    assert accepted.status_code == 201, accepted.content


def test_the_form_shows_an_outside_suite_as_an_error_on_its_field(client, staff, outside_suite):
    client.force_login(staff)
    data = {"snapshot": make_snapshot().pk, "base_model": make_base_model().pk, "method": "cpt", "finetuning": "full",
            "learning_rate": "0.001", "eval_suites": [outside_suite.pk]}  # fmt: skip
    answer = client.post(reverse("run_new"), data)
    assert answer.status_code == 400
    assert "outside the allowed storage roots" in answer.context["form"].errors["eval_suites"][0]
    assert not TrainingRun.objects.exists()
