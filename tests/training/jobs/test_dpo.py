"""DPO in the job's own loop: TRL's loss and tokenisation, the reference, a run that learns the preference."""

import math

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from tests.training.jobs.conftest import PREFERENCES, Recorder, make_spec
from training.jobs.data import collate_pairs, encode_pair, row_pairs
from training.jobs.dpo import REFERENCE_LOGPS, dpo_loss, make_sequence_logps
from training.jobs.runner import run_in_child
from training.jobs.train import run_training, split_head


def test_the_loss_and_rewards_are_trls_sigmoid_dpo_on_a_hand_checked_pair():
    # Policy log-probs: chosen -1, rejected -3; reference: -2 for both; beta 0.1.
    # Rewards: 0.1 * (-1 - -2) = 0.1 and 0.1 * (-3 - -2) = -0.1; loss -log σ(0.2) = log(1 + e^-0.2).
    losses, chosen, rejected = dpo_loss(
        torch.tensor([-1.0, -5.0]), torch.tensor([-3.0, -4.0]), torch.tensor([-2.0, -4.0]), torch.tensor([-2.0, -4.0]),
        beta=0.1,
    )  # fmt: skip
    assert losses[0].item() == pytest.approx(math.log1p(math.exp(-0.2)), abs=1e-6)  # 0.598139
    assert losses[1].item() == pytest.approx(math.log1p(math.exp(0.1)), abs=1e-6)  # the second pair is ranked wrongly
    assert chosen.tolist() == pytest.approx([0.1, -0.1]) and rejected.tolist() == pytest.approx([-0.1, 0.0])


def test_equal_policy_and_reference_give_log_2():
    logps = torch.tensor([-7.0, -2.5])
    losses, _, _ = dpo_loss(logps, logps - 1, logps, logps - 1, beta=0.5)
    assert losses.tolist() == pytest.approx([math.log(2)] * 2)


@pytest.mark.parametrize("chunk_tokens", [0, 7])
def test_sequence_logps_chunked_or_not_equal_the_models_own_and_so_do_their_gradients(tiny_model, chunk_tokens):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model, use_safetensors=True)
    batch = collate_pairs([encode_pair(tokenizer, *pair, seq_len=32) for pair in PREFERENCES], tokenizer.pad_token_id)
    ids, labels = batch["input_ids"], batch["labels"]

    mine = make_sequence_logps(model, *split_head(model), chunk_tokens)(ids, labels)
    (mine * torch.arange(1.0, 7.0)).sum().backward()  # a different weight per sequence, as DPO gives
    mine_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    logits = model(input_ids=ids).logits[:, :-1].float()
    targets = labels[:, 1:]
    per_token = logits.log_softmax(-1).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    reference = (per_token * (targets != -100)).sum(1)
    (reference * torch.arange(1.0, 7.0)).sum().backward()

    assert torch.allclose(mine, reference, atol=1e-4)
    for got, expected in zip(mine_grads, (p.grad for p in model.parameters())):
        assert torch.allclose(got, expected, atol=1e-5, rtol=1e-4)


def test_a_ranking_row_makes_a_pair_per_worse_answer_and_a_conversation_prompt_keeps_its_turns():
    turns = [{"role": "system", "content": "Kurz."}, {"role": "user", "content": "Zwei plus zwei?"}]
    row = {"prompt": None, "prompt_messages": turns, "chosen": "Vier.", "rejected": ["Fünf.", "Drei."]}
    assert row_pairs(row) == [(turns, "Vier.", "Fünf."), (turns, "Vier.", "Drei.")]
    assert row_pairs({"prompt": "Farbe?", "chosen": "Blau.", "rejected": "Grün."}) == [("Farbe?", "Blau.", "Grün.")]
    assert row_pairs({"messages": turns + [{"role": "assistant", "content": "Vier."}], "chosen": None}) == []


def test_without_a_chat_template_prompt_and_answer_are_concatenated_with_eos(tiny_model):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    tokenizer.chat_template = None
    pair = encode_pair(tokenizer, "Farbe des Himmels?", " Blau.", " Grün.", seq_len=64)
    assert tokenizer.decode(pair["prompt_ids"] + pair["chosen_ids"]) == "Farbe des Himmels? Blau.</s>"
    assert tokenizer.decode(pair["rejected_ids"]).endswith(" Grün.</s>")
    cut = encode_pair(tokenizer, "Farbe des Himmels?", " Blau.", " Grün.", seq_len=len(pair["prompt_ids"]) + 1)
    assert len(cut["chosen_ids"]) == len(cut["rejected_ids"]) == 1
    assert encode_pair(tokenizer, "Farbe des Himmels?", " Blau.", " Grün.", seq_len=len(pair["prompt_ids"])) is None


def test_pairs_are_tokenised_and_the_loss_computed_as_trls_dpo_trainer_does(tiny_model, tmp_path):
    pytest.importorskip("trl")
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    policy = AutoModelForCausalLM.from_pretrained(tiny_model, use_safetensors=True)
    reference = AutoModelForCausalLM.from_pretrained(tiny_model, use_safetensors=True)
    with torch.no_grad():  # a policy that has moved away from its reference
        for parameter in policy.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    rows = [{"prompt": [{"role": "user", "content": p}], "chosen": [{"role": "assistant", "content": c}],
             "rejected": [{"role": "assistant", "content": r}]} for p, c, r in PREFERENCES]  # fmt: skip
    config = DPOConfig(output_dir=str(tmp_path), max_length=32, beta=0.1, report_to=[], use_cpu=True)
    trainer = DPOTrainer(model=policy, ref_model=reference, args=config, train_dataset=Dataset.from_list(rows),
                         processing_class=tokenizer)  # fmt: skip

    whole = [encode_pair(tokenizer, p, c, r, seq_len=1000) for p, c, r in PREFERENCES]
    assert whole == [{key: trainer.train_dataset[i][key] for key in whole[0]} for i in range(len(rows))]

    ours = [encode_pair(tokenizer, p, c, r, seq_len=32) for p, c, r in PREFERENCES]  # TRL's collator cuts at 32

    policy.eval()  # no dropout in either
    with torch.no_grad():
        trl_loss = trainer.compute_loss(policy, trainer.data_collator(list(trainer.train_dataset)))
        batch = collate_pairs(ours, tokenizer.pad_token_id)
        models = (trainer.model, trainer.ref_model)
        scored = [make_sequence_logps(m, *split_head(m), 4096)(batch["input_ids"], batch["labels"]) for m in models]
        losses, _, _ = dpo_loss(*scored[0].chunk(2), *scored[1].chunk(2), beta=0.1)
    # TRL scores with its own fused, tiled head; its log-probabilities differ from the plain ones in the 5th digit.
    assert losses.mean().item() == pytest.approx(trl_loss.item(), abs=5e-4)
    assert trainer._metrics["eval"]["logps/chosen"][0] == pytest.approx(scored[0].chunk(2)[0].mean().item(), abs=1e-3)


def test_a_full_dpo_run_in_the_job_runner_learns_the_preference_and_resumes_with_its_reference(
    tiny_model, dpo_snapshot, tmp_path
):
    spec = make_spec(tiny_model, dpo_snapshot, tmp_path / "run", method="dpo", max_steps=12, save_every=4,
                     learning_rate=3e-3)  # fmt: skip
    seen = []
    first = run_in_child(spec, seen.append, cancel_check=lambda: any(e["event"] == "checkpoint" for e in seen))
    assert first.cancelled and not first.ok
    assert (tmp_path / "run" / "checkpoint-4" / REFERENCE_LOGPS).is_file()

    resumed = []
    second = run_in_child(spec, resumed.append)

    assert second.ok, second.log_tail[-20:]
    start = next(e for e in resumed if e["event"] == "start")
    assert start["method"] == "dpo" and start["examples"] == 22  # 18 pairs, and two rankings of three answers
    assert start["start_step"] >= 4
    progress = [e for e in seen + resumed if e["event"] == "progress"]
    assert progress[0]["step"] == 1 and progress[0]["loss"] == pytest.approx(math.log(2), abs=1e-5)
    assert progress[0]["reward_accuracy"] == 0.0 and progress[0]["reward_margin"] == 0.0  # the policy is its reference
    last = progress[-1]
    assert last["step"] == 12 and last["reward_accuracy"] >= 0.9 and last["reward_margin"] > 1.0
    assert last["chosen_reward"] > 0 > last["rejected_reward"] and last["loss"] < 0.3
    before = load_file(tiny_model / "model.safetensors")
    after = load_file(tmp_path / "run" / "final" / "model.safetensors")
    assert not torch.equal(before["model.layers.0.mlp.up_proj.weight"], after["model.layers.0.mlp.up_proj.weight"])


def test_a_lora_dpo_run_learns_the_preference_against_its_adapter_free_self(tiny_model, dpo_snapshot, tmp_path):
    spec = make_spec(tiny_model, dpo_snapshot, tmp_path / "run", method="dpo", finetuning="lora", max_steps=8,
                     save_every=4, lora_r=4, lora_alpha=8, learning_rate=1e-2)  # fmt: skip
    events = Recorder()

    run_training(spec, events)

    progress = events.of("progress")
    assert events.of("start")[0]["trainable_parameters"] < events.of("start")[0]["parameters"] / 5
    assert progress[0]["loss"] == pytest.approx(math.log(2), abs=1e-5)
    assert progress[-1]["reward_accuracy"] >= 0.9 and progress[-1]["reward_margin"] > progress[1]["reward_margin"] > 0
    assert (tmp_path / "run" / "checkpoint-4" / "adapter_model.safetensors").is_file()
    assert (tmp_path / "run" / "checkpoint-4" / REFERENCE_LOGPS).is_file()
    assert "Preference optimisation (DPO)" in (tmp_path / "run" / "final" / "README.md").read_text()
