import json
import shutil

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from tests.training.jobs.conftest import Recorder, make_spec
from training.jobs.train import run_training


def test_cpt_logs_a_decreasing_loss_and_changes_the_weights(tiny_model, cpt_snapshot, tmp_path):
    spec = make_spec(tiny_model, cpt_snapshot, tmp_path / "run", max_steps=30, save_every=10)
    events = Recorder()

    done = run_training(spec, events)

    start, progress = events.of("start")[0], events.of("progress")
    assert start["start_step"] == 0 and start["total_steps"] == 30
    assert [e["step"] for e in progress] == list(range(1, 31))
    assert all(e["loss"] > 0 and e["lr"] > 0 and e["tokens_per_second"] > 0 for e in progress)
    first, last = sum(e["loss"] for e in progress[:3]) / 3, sum(e["loss"] for e in progress[-3:]) / 3
    assert last < 0.7 * first, (first, last)
    assert [e["step"] for e in events.of("checkpoint")] == [10, 20]
    assert events[-1]["event"] == "done" and done["steps"] == 30

    before = load_file(tiny_model / "model.safetensors")
    after = load_file(tmp_path / "run" / "final" / "model.safetensors")
    assert not torch.equal(before["model.layers.0.self_attn.q_proj.weight"], after["model.layers.0.self_attn.q_proj.weight"])

    checkpoint = tmp_path / "run" / "checkpoint-20"
    assert {"model.safetensors", "trainer_state.pt", "job.json", "README.md", "tokenizer.json"} <= {
        p.name for p in checkpoint.iterdir()
    }
    assert json.loads((checkpoint / "job.json").read_text())["train"]["max_steps"] == 30
    card = (checkpoint / "README.md").read_text()
    assert "Alpha Archive" in card and "Beta Bibliotheek" in card and "snapshot-2026-11" in card


def test_finished_run_is_not_trained_again(tiny_model, cpt_snapshot, tmp_path):
    spec = make_spec(tiny_model, cpt_snapshot, tmp_path / "run", max_steps=2)
    run_training(spec, Recorder())
    again = Recorder()
    run_training(spec, again)
    assert [e["event"] for e in again] == ["done"] and again[0]["already_done"] is True


def test_lora_sft_saves_a_merged_model_that_loads_plainly(tiny_model, sft_snapshot, tmp_path):
    spec = make_spec(
        tiny_model, sft_snapshot, tmp_path / "run",
        method="sft", finetuning="lora", max_steps=6, save_every=3, lora_r=4, lora_alpha=8, learning_rate=1e-2,
    )  # fmt: skip
    events = Recorder()

    run_training(spec, events)

    start = events.of("start")[0]
    assert start["trainable_parameters"] < start["parameters"] / 5
    assert (tmp_path / "run" / "checkpoint-3" / "adapter_model.safetensors").is_file()
    final = AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "final", use_safetensors=True)
    base = AutoModelForCausalLM.from_pretrained(tiny_model, use_safetensors=True)
    assert not any("lora" in name for name, _ in final.named_parameters())
    assert not torch.equal(final.model.layers[0].self_attn.q_proj.weight, base.model.layers[0].self_attn.q_proj.weight)

    # Without its final model the run resumes from the adapter checkpoint.
    shutil.rmtree(tmp_path / "run" / "final")
    resumed = Recorder()
    run_training(spec, resumed)
    assert resumed.of("start")[0]["start_step"] == 3
    assert [e["step"] for e in resumed.of("progress")] == [4, 5, 6]


def test_heartbeats_come_while_the_job_is_busy():
    import time

    from training.jobs.events import heartbeat

    events = Recorder()
    with heartbeat(events, every_seconds=0.02):
        time.sleep(0.15)
    assert len(events.of("heartbeat")) >= 2


def test_the_final_folder_appears_with_its_summary(tiny_model, cpt_snapshot, tmp_path, monkeypatch):
    """A job killed right after final/ appears must not leave a final model without the summary that marks it
    done: the next attempt would train its last steps again and overwrite it."""
    from training.jobs import train

    save_final = train.save_final
    seen = []

    def watched(*args, **kwargs):
        final = save_final(*args, **kwargs)
        seen.append((final / train.SUMMARY).is_file())
        return final

    monkeypatch.setattr(train, "save_final", watched)
    summary = run_training(make_spec(tiny_model, cpt_snapshot, tmp_path / "run", max_steps=2), Recorder())

    assert seen == [True]
    assert json.loads((tmp_path / "run" / "final" / train.SUMMARY).read_text()) == summary
