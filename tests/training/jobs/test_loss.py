"""The chunked cross-entropy is the plain one: same loss, same gradients, same training run."""

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM

from tests.training.jobs.conftest import Recorder, make_spec
from training.jobs.data import IGNORE_INDEX
from training.jobs.contract import TrainConfig
from training.jobs.train import chunked_cross_entropy, make_loss, run_training, split_head, wrap_lora


def sft_targets(rows: int, width: int, vocab: int, generator) -> torch.Tensor:
    """Targets as SFT makes them: prompt tokens and right padding are -100, the answer is learned."""
    targets = torch.randint(0, vocab, (rows, width), generator=generator)
    for row in range(rows):
        answer_from, padding_from = 3 + row, width - 2 * row
        targets[row, :answer_from] = IGNORE_INDEX
        targets[row, padding_from:] = IGNORE_INDEX
    return targets.flatten()


def plain_and_chunked(hidden, weight, targets, chunk_tokens, scale=1.0):
    """(loss, grad hidden, grad weight) by F.cross_entropy over full logits, then by the chunked loss."""
    results = []
    for chunked in (False, True):
        h, w = hidden.detach().clone().requires_grad_(), weight.detach().clone().requires_grad_()
        if chunked:
            loss = chunked_cross_entropy(h, w, targets, chunk_tokens)
        else:
            loss = F.cross_entropy((h @ w.T).float(), targets, ignore_index=IGNORE_INDEX, reduction="sum")
        (loss * scale).backward()
        results.append((loss.detach(), h.grad, w.grad))
    return results


@pytest.mark.parametrize("chunk_tokens", [1, 7, 32, 10_000])
def test_chunked_cross_entropy_equals_the_plain_one_with_sft_masking(chunk_tokens):
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(4 * 16, 24, generator=generator)
    weight = torch.randn(50, 24, generator=generator) / 5
    targets = sft_targets(4, 16, 50, generator)
    assert (targets == IGNORE_INDEX).sum() > 10 and (targets != IGNORE_INDEX).sum() > 10

    (loss, grad_h, grad_w), (c_loss, c_grad_h, c_grad_w) = plain_and_chunked(
        hidden, weight, targets, chunk_tokens, scale=1 / 37
    )

    torch.testing.assert_close(c_loss, loss, rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(c_grad_h, grad_h, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(c_grad_w, grad_w, rtol=1e-5, atol=1e-7)
    assert not c_grad_h.view(4, 16, 24)[0, :3].any(), "masked prompt tokens get no gradient"


def test_chunked_cross_entropy_in_bf16_is_as_close_to_fp32_as_the_plain_one():
    generator = torch.Generator().manual_seed(1)
    hidden = torch.randn(64, 32, generator=generator).bfloat16()
    weight = (torch.randn(80, 32, generator=generator) / 5).bfloat16()
    targets = sft_targets(4, 16, 80, generator)

    plain, chunked = plain_and_chunked(hidden, weight, targets, 16)
    reference, _ = plain_and_chunked(hidden.float(), weight.float(), targets, 16)

    assert chunked[0].dtype == torch.float32 and chunked[1].dtype == chunked[2].dtype == torch.bfloat16
    for name, truth, ours, theirs in zip(("loss", "grad hidden", "grad weight"), reference, chunked, plain):
        # bf16 keeps 8 bits of mantissa: both land within 1% of the largest value of fp32's answer
        tolerance = 1e-2 * truth.abs().max().item()
        torch.testing.assert_close(theirs.float(), truth, rtol=0, atol=tolerance, msg=f"plain {name}")
        torch.testing.assert_close(ours.float(), truth, rtol=0, atol=tolerance, msg=f"chunked {name}")


def test_only_ignored_targets_give_zero_loss_and_zero_gradients():
    hidden = torch.randn(8, 4, requires_grad=True)
    weight = torch.randn(10, 4, requires_grad=True)
    loss = chunked_cross_entropy(hidden, weight, torch.full((8,), IGNORE_INDEX), 3)
    loss.backward()
    assert loss.item() == 0 and not hidden.grad.any() and not weight.grad.any()


@pytest.mark.parametrize("finetuning", ["full", "lora"])
def test_the_jobs_loss_is_the_models_own_loss(tiny_model, finetuning):
    """From the decoder's hidden states, a chunk at a time, as from model(...).logits: loss and every gradient."""
    torch.manual_seed(0)
    input_ids = torch.randint(3, 400, (3, 20))
    labels = input_ids.clone()
    labels[0, :6] = IGNORE_INDEX  # a prompt
    labels[2, 14:] = IGNORE_INDEX  # padding

    def loss_and_grads(chunk_tokens):
        torch.manual_seed(1)
        model = AutoModelForCausalLM.from_pretrained(tiny_model, use_safetensors=True)
        if finetuning == "lora":
            model = wrap_lora(model, TrainConfig(lora_r=4, lora_alpha=8, lora_dropout=0.0), None)
        assert split_head(model)[1] is model.get_output_embeddings(), "the chunked path applies"
        loss = make_loss(model, chunk_tokens)(input_ids, labels)
        loss.backward()
        return loss.detach(), {n: p.grad for n, p in model.named_parameters() if p.requires_grad}

    plain_loss, plain_grads = loss_and_grads(0)
    loss, grads = loss_and_grads(16)

    torch.testing.assert_close(loss, plain_loss, rtol=1e-6, atol=1e-5)
    assert grads.keys() == plain_grads.keys() and len(grads) > 4
    for name, grad in grads.items():
        torch.testing.assert_close(grad, plain_grads[name], rtol=1e-4, atol=1e-6, msg=name)


def test_a_training_run_logs_the_same_losses_chunked_or_not(tiny_model, sft_snapshot, tmp_path):
    def losses(chunk_tokens):
        events = Recorder()
        spec = make_spec(tiny_model, sft_snapshot, tmp_path / f"run-{chunk_tokens}", method="sft", max_steps=5,
                         loss_chunk_tokens=chunk_tokens)  # fmt: skip
        run_training(spec, events)
        assert events.of("start")[0]["loss_chunk_tokens"] == chunk_tokens and not events.of("start")[0]["compiled"]
        return [e["loss"] for e in events.of("progress")]

    plain, chunked = losses(0), losses(24)
    assert len(plain) == 5
    assert chunked == pytest.approx(plain, rel=1e-5)
