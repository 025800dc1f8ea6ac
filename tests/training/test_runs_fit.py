"""A run is refused at creation when its snapshot has no data for its method or it cannot fit its GPUs."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from training.models import TrainingRun

from .run_helpers import FAST, make_base_model, make_run, make_snapshot

pytestmark = pytest.mark.django_db

MISTRAL_7B = {"hidden_size": 4096, "num_hidden_layers": 32, "vocab_size": 32000, "intermediate_size": 14336,
              "num_attention_heads": 32, "num_key_value_heads": 8}  # fmt: skip


@pytest.fixture
def mistral_7b():
    base = make_base_model("mistral-7b")
    (Path(base.source) / "config.json").write_text(json.dumps(MISTRAL_7B))
    return base


def test_cpt_on_an_instruction_only_snapshot_is_refused_saying_what_to_change(staff):
    snapshot = make_snapshot()
    snapshot.parameters = {"kinds": ["instruction"]}
    snapshot.save()
    with pytest.raises(ValidationError) as refused:
        make_run(user=staff, snapshot=snapshot)
    assert "holds no pretraining records, which cpt trains on" in refused.value.messages[0]
    assert "Choose another method" in refused.value.messages[0]
    assert not TrainingRun.objects.exists()


def test_dpo_on_a_snapshot_without_preference_data_is_refused_by_the_command_and_taken_with_it(staff):
    base = make_base_model()
    snapshot = make_snapshot()
    snapshot.parameters = {"kinds": ["instruction", "conversation"]}
    snapshot.save()
    with pytest.raises(CommandError, match="holds no preference records, which dpo trains on"):
        call_command("train", "--snapshot", snapshot.label, "--base-model", base.name, "--method", "dpo",
                     "--estimate", stdout=StringIO())  # fmt: skip
    snapshot.parameters = {"kinds": ["instruction", "preference"]}
    snapshot.save()
    out = StringIO()
    call_command("train", "--snapshot", snapshot.label, "--base-model", base.name, "--method", "dpo",
                 "--hyperparameters", json.dumps(FAST), stdout=out, stderr=StringIO())  # fmt: skip
    run = TrainingRun.objects.get()
    assert run.method == "dpo" and run.manifest["job_spec"]["method"] == "dpo" and json.loads(out.getvalue())["run"] == run.pk


def test_a_7b_full_fine_tune_in_fp32_on_one_80_gb_gpu_is_refused_and_sharding_is_the_advice(staff, mistral_7b):
    with pytest.raises(ValidationError) as refused:
        make_run(user=staff, base_model=mistral_7b, hyperparameters={**FAST, "bf16": False})
    [message] = refused.value.messages
    assert "needs about 118 GB per GPU (116 GB of weights, gradients and optimizer state" in message
    assert "the GPUs have 80 GB" in message and "shard the full fine-tune over several GPUs" in message
    assert not TrainingRun.objects.exists()


def test_the_same_run_on_eight_gpus_is_sharded_and_accepted_but_not_as_replicas(staff, mistral_7b):
    fp32 = {**FAST, "bf16": False}
    run = make_run(user=staff, base_model=mistral_7b, hyperparameters=fp32, resources={"gpus_per_node": 8})
    # 116 GB of fp32 state over 8 GPUs, 2 GB of overhead, 0.6 GB for 64 tokens' fp32 activations
    assert run.manifest["estimate"]["memory_gb_per_gpu"] == pytest.approx(115.9 / 8 + 2 + 0.6, abs=0.2)
    with pytest.raises(ValidationError, match="shard the full fine-tune"):
        make_run(user=staff, base_model=mistral_7b, hyperparameters={**fp32, "sharding": "none"},
                 resources={"gpus_per_node": 8})  # fmt: skip


def test_a_7b_full_fine_tune_in_bf16_needs_two_gpus_at_16_bytes_per_parameter(staff, mistral_7b):
    """fp32 master weights, gradients and AdamW moments; in one process autocast's bf16 copy of each weight too."""
    with pytest.raises(ValidationError, match=r"needs about 133 GB per GPU \(130 GB of weights"):
        make_run(user=staff, base_model=mistral_7b)
    run = make_run(user=staff, base_model=mistral_7b, resources={"gpus_per_node": 2})  # sharded
    assert run.manifest["estimate"]["memory_gb_per_gpu"] == pytest.approx(115.9 / 2 + 2, abs=0.5)  # and 64 tokens' activations


def test_a_7b_lora_run_is_accepted_with_its_estimate_and_resources_in_the_spec(staff, mistral_7b):
    run = make_run(user=staff, base_model=mistral_7b, finetuning="lora", resources={"gpus_per_node": 2})
    estimate = run.manifest["estimate"]
    assert estimate["parameters"] == 7_241_732_096 and estimate["memory_gb_per_gpu"] < 80
    assert estimate["tokens"] == 4 * 2 * 32 * 2  # steps × batch × seq_len × GPUs (FAST)
    assert run.manifest["job_spec"]["resources"] == {"gpus_per_node": 2, "nodes": 1}


def test_the_form_refuses_a_run_that_does_not_fit_on_the_page(client, staff, mistral_7b):
    client.force_login(staff)
    data = {"snapshot": make_snapshot().pk, "base_model": mistral_7b.pk, "method": "cpt", "finetuning": "full",
            "learning_rate": "0.001", "seq_len": "2048", "batch_size": "4", "gpus_per_node": "1", "nodes": "1"}  # fmt: skip
    answer = client.post(reverse("run_new"), data)
    assert answer.status_code == 400
    assert "shard the full fine-tune over several GPUs" in answer.context["form"].non_field_errors()[0]
    answer = client.post(reverse("run_new"), {**data, "gpus_per_node": "8", "batch_size": "16"})  # sharded: activations
    assert answer.status_code == 400
    assert "turn on gradient checkpointing" in answer.context["form"].non_field_errors()[0]
    accepted = client.post(reverse("run_new"), {**data, "finetuning": "lora", "gpus_per_node": "4", "nodes": "2"})
    assert accepted.status_code == 302
    run = TrainingRun.objects.get()
    assert run.resources == {"gpus_per_node": 4, "nodes": 2}


def test_the_train_command_takes_gpus_and_nodes_and_prints_the_estimate(staff, mistral_7b):
    snapshot = make_snapshot()
    out, err = StringIO(), StringIO()
    call_command("train", "--snapshot", snapshot.label, "--base-model", "mistral-7b", "--method", "cpt",
                 "--finetuning", "lora", "--gpus", "8", "--nodes", "2", "--hyperparameters", json.dumps(FAST),
                 stdout=out, stderr=err)  # fmt: skip
    assert TrainingRun.objects.get().manifest["job_spec"]["resources"] == {"gpus_per_node": 8, "nodes": 2}
    assert '"memory_gb_per_gpu"' in err.getvalue()
    replicas = {**FAST, "bf16": False, "sharding": "none"}
    with pytest.raises(CommandError, match="shard the full fine-tune"):
        call_command("train", "--snapshot", snapshot.label, "--base-model", "mistral-7b", "--method", "cpt",
                     "--gpus", "8", "--hyperparameters", json.dumps(replicas), stdout=out, stderr=err)  # fmt: skip


def test_a_base_model_whose_config_lacks_the_sizes_is_not_estimated(staff):
    base = make_base_model("stub")
    (Path(base.source) / "config.json").write_text('{"model_type": "mistral"}')
    assert "estimate" not in make_run(user=staff, base_model=base).manifest


def test_the_form_estimates_without_creating_a_run(client, staff, mistral_7b):
    client.force_login(staff)
    data = {"snapshot": make_snapshot().pk, "base_model": mistral_7b.pk, "method": "cpt", "finetuning": "lora",
            "learning_rate": "0.001", "seq_len": "2048", "batch_size": "4", "max_steps": "1000",
            "gradient_checkpointing": "on", "estimate": "1"}  # fmt: skip
    answer = client.post(reverse("run_new"), data)
    assert answer.status_code == 200 and not TrainingRun.objects.exists()
    page = answer.content.decode()
    assert "data-estimate" in page and "GB per GPU" in page and "8192000 tokens" in page
    assert answer.context["estimate"].parameters == 7_241_732_096


def test_the_train_command_estimates_without_creating_a_run(staff, mistral_7b):
    out = StringIO()
    call_command("train", "--snapshot", make_snapshot().label, "--base-model", "mistral-7b", "--method", "cpt",
                 "--finetuning", "lora", "--gpus", "4", "--max-steps", "1000", "--estimate",
                 "--hyperparameters", json.dumps({"gradient_checkpointing": True}), stdout=out)  # fmt: skip
    printed = json.loads(out.getvalue())
    assert printed["parameters"] == 7_241_732_096 and printed["tokens"] == 1000 * 8 * 2048 * 4
    assert printed["hours"] > 0 and not TrainingRun.objects.exists()


def test_the_api_takes_resources_and_names_a_mistyped_one(client, staff):
    client.force_login(staff)
    body = {"snapshot": make_snapshot().pk, "base_model": make_base_model().name, "method": "cpt", "hyperparameters": FAST}
    refused = client.post(reverse("api_run_list"), {**body, "resources": {"gpus_per_node": "two"}}, content_type="application/json")
    assert refused.status_code == 400 and refused.json() == {"resources": ["gpus_per_node must be int; got 'two'"]}
    accepted = client.post(reverse("api_run_list"), {**body, "resources": {"gpus_per_node": 2, "nodes": 3}},
                           content_type="application/json")  # fmt: skip
    assert accepted.status_code == 201 and accepted.json()["resources"] == {"gpus_per_node": 2, "nodes": 3}
