"""The fit and time estimate on known figures (training/services/fit_estimate.py)."""

import json
import uuid
from pathlib import Path

import pytest

from annotation.models import Submission
from training.models import SnapshotSubmission
from training.services.fit_estimate import Hardware, ModelShape, advice, estimate, steps_for
from training.services.run_fit import training_run_estimate

from .run_helpers import make_base_model, make_snapshot

MISTRAL_7B = {  # mistralai/Mistral-7B-v0.1 config.json
    "hidden_size": 4096, "num_hidden_layers": 32, "vocab_size": 32000, "intermediate_size": 14336,
    "num_attention_heads": 32, "num_key_value_heads": 8, "tie_word_embeddings": False,
}  # fmt: skip


def test_a_7b_mistral_has_7_24_billion_parameters(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(MISTRAL_7B))
    assert ModelShape.from_folder(tmp_path).parameters == 7_241_732_096


def test_a_7b_full_fine_tune_holds_fp32_master_weights_gradients_and_moments_and_autocasts_a_bf16_copy():
    """16 bytes per parameter as the job trains it (fp32 master weights), plus autocast's bf16 copy of each weight
    in one process: a 7B full fine-tune does not fit one 80 GB GPU, in bf16 or not."""
    shape = ModelShape.from_config(MISTRAL_7B)
    bf16 = estimate(shape, finetuning="full", seq_len=2048, batch_size=1, steps=1)
    fp32 = estimate(shape, finetuning="full", seq_len=2048, batch_size=1, steps=1, bf16=False)
    assert bf16.state_gb == pytest.approx(7.24 * 18, abs=0.1) and not bf16.fits
    assert fp32.state_gb == pytest.approx(115.9, abs=0.1) and not fp32.fits
    assert fp32.activations_gb == pytest.approx(2 * bf16.activations_gb)  # fp32 activations are twice bf16's


@pytest.mark.parametrize("bf16", [True, False])
def test_sharding_over_eight_gpus_divides_the_16_bytes_per_parameter_of_a_full_fine_tune(bf16):
    """FSDP's MixedPrecisionPolicy gathers the bf16 weights a unit at a time: no bf16 copy of them all."""
    shape = ModelShape.from_config(MISTRAL_7B)
    result = estimate(shape, finetuning="full", seq_len=2048, batch_size=1, steps=1, gpus=8, sharded=True,
                      gradient_checkpointing=True, bf16=bf16)  # fmt: skip
    assert result.state_gb == pytest.approx(115.9 / 8, abs=0.1) and result.fits


def test_a_lora_runs_frozen_base_is_2_bytes_a_parameter_in_bf16_and_4_in_fp32():
    shape = ModelShape.from_config(MISTRAL_7B)
    bf16 = estimate(shape, finetuning="lora", seq_len=2048, batch_size=1, steps=1)
    fp32 = estimate(shape, finetuning="lora", seq_len=2048, batch_size=1, steps=1, bf16=False)
    adapter_gb = 16 * bf16.trainable_parameters / 1e9
    assert bf16.state_gb == pytest.approx(2 * 7.2417 + adapter_gb, abs=0.01)
    assert fp32.state_gb == pytest.approx(4 * 7.2417 + adapter_gb, abs=0.01)


def test_a_replica_that_does_not_fit_is_advised_to_shard_and_a_sharded_one_lora():
    shape, small = ModelShape.from_config(MISTRAL_7B), Hardware(memory_gb=24)
    replica = estimate(shape, finetuning="full", seq_len=2048, batch_size=1, steps=1, gpus=2, hardware=small)
    shards = estimate(shape, finetuning="full", seq_len=2048, batch_size=1, steps=1, gpus=2, sharded=True,
                      hardware=small)  # fmt: skip
    assert not replica.fits and not shards.fits
    assert advice(replica, finetuning="full", gradient_checkpointing=False, hardware=small) == "shard"
    assert advice(shards, finetuning="full", gradient_checkpointing=False, sharded=True, hardware=small) == "lora"


def test_a_7b_lora_fits_one_gpu_and_trains_about_one_percent():
    result = estimate(ModelShape.from_config(MISTRAL_7B), finetuning="lora", seq_len=2048, batch_size=4, steps=1,
                      gradient_checkpointing=True)  # fmt: skip
    assert 0.005 < result.trainable_parameters / result.parameters < 0.01
    assert result.fits and result.memory_gb < 40


def test_activations_without_checkpointing_are_what_does_not_fit_and_the_advice_says_so():
    shape = ModelShape.from_config(MISTRAL_7B)
    plain = estimate(shape, finetuning="lora", seq_len=4096, batch_size=16, steps=1)
    checkpointed = estimate(shape, finetuning="lora", seq_len=4096, batch_size=16, steps=1, gradient_checkpointing=True)
    assert not plain.fits and checkpointed.activations_gb < plain.activations_gb / 10
    assert advice(plain, finetuning="lora", gradient_checkpointing=False) == "gradient_checkpointing"
    assert advice(checkpointed, finetuning="lora", gradient_checkpointing=True) == "smaller_batch"


def test_time_is_six_n_tokens_over_the_gpus_peak_at_the_assumed_mfu():
    shape = ModelShape.from_config(MISTRAL_7B)
    one = estimate(shape, finetuning="lora", seq_len=2048, batch_size=8, steps=1000, hardware=Hardware(mfu=0.5))
    eight = estimate(shape, finetuning="lora", seq_len=2048, batch_size=1, steps=1000, gpus=8, hardware=Hardware(mfu=0.5))
    assert one.tokens == eight.tokens == 1000 * 8 * 2048
    expected = 6 * shape.parameters * one.tokens / (989e12 * 0.5)
    assert one.seconds == pytest.approx(expected) and eight.seconds == pytest.approx(expected / 8)


def test_dpo_counts_two_sequences_a_pair_and_the_references_forward_pass_but_no_second_copy():
    shape = ModelShape.from_config(MISTRAL_7B)
    sft = estimate(shape, finetuning="full", seq_len=2048, batch_size=4, steps=100)
    dpo = estimate(shape, finetuning="full", seq_len=2048, batch_size=4, steps=100, method="dpo")
    assert dpo.tokens == 2 * sft.tokens and dpo.activations_gb == pytest.approx(2 * sft.activations_gb)
    assert dpo.state_gb == sft.state_gb  # the reference's log-probabilities are scored before training, not held
    # policy forward and backward (6N) plus the reference's forward (2N) for each token
    assert dpo.seconds == pytest.approx(sft.seconds * 2 * 8 / 6)


def test_steps_count_global_batches_of_every_gpu():
    assert steps_for(1000, epochs=1, batch_size=4, grad_accum=2, gpus=1) == 125
    assert steps_for(1000, epochs=1, batch_size=4, grad_accum=2, gpus=2) == 63


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "examples", "sequences"), [("cpt", 10_000 // 32, 1), ("sft", 40, 1), ("dpo", 30, 2)])
def test_a_snapshot_of_several_kinds_counts_only_the_train_rows_the_method_reads(
    method, examples, sequences, partner_a, member_a, german
):
    """Evaluation items are never in train; a written pair is credited to its source's submission too."""
    snapshot = make_snapshot()
    snapshot.parameters = {"kinds": ["pretraining", "instruction", "preference", "evaluation"]}
    snapshot.counts = {"de": {"train": {"records": 100 + 40 + 30, "tokens": 10_000 + 4_000 + 3_000},
                              "test": {"records": 10 + 20, "tokens": 1_000 + 2_000}}}  # fmt: skip
    snapshot.save()
    for kind, records, tokens, splits in [
        ("pretraining", 110, 11_000, {"train": 100, "test": 10}), ("instruction", 40, 4_000, {"train": 40}),
        ("preference", 25 + 5, 3_000, {"train": 25 + 5}),  # 25 pairs of its own, 5 written pairs credited
        ("preference", 5, 500, {"train": 5}),  # the 5 written pairs
        ("evaluation", 20, 2_000, {"test": 20}),
    ]:  # fmt: skip
        submission = Submission.objects.create(
            uuid=uuid.uuid4(), partner=partner_a, uploader=member_a, language=german, kind=kind, license="CC-BY-4.0",
            source="s",
            consent=True, original_name="a.jsonl", status=Submission.Status.READY,
        )  # fmt: skip
        SnapshotSubmission.objects.create(snapshot=snapshot, submission=submission, partner=partner_a, language="de",
                                          license="CC-BY-4.0", records=records, tokens=tokens, splits=splits)  # fmt: skip
    base = make_base_model("mistral-7b")
    (Path(base.source) / "config.json").write_text(json.dumps(MISTRAL_7B))

    result = training_run_estimate(snapshot=snapshot, base_model=base, method=method, finetuning="lora",
                                   hyperparameters={"seq_len": 32, "batch_size": 1}, resources={})  # fmt: skip

    assert result.tokens == examples * 32 * sequences
