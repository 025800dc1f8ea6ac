"""The DPO job reads a snapshot the portal built: a pair, and a ranking's pairs, with a conversation prompt."""

import pytest

from tests.annotation.texts import GERMAN
from training.models import Snapshot

from .test_snapshot_build import build

pytest.importorskip("transformers")

TURNS = [{"role": "user", "content": GERMAN[5]}]


def test_the_dpo_reader_takes_a_built_snapshots_preference_rows_and_sft_leaves_them(ingested, partner_a, german):
    from training.jobs.data import load_examples
    from training.jobs.tiny import train_tokenizer

    ingested([{"prompt": GERMAN[0], "response": GERMAN[1]}], partner=partner_a, language=german, kind="instruction")
    ingested(
        [
            {"prompt": GERMAN[2], "chosen": GERMAN[3], "rejected": GERMAN[4]},
            {"prompt": TURNS, "responses": GERMAN[6:9], "ranking": [1, 2, 0]},
        ],
        partner=partner_a, language=german, kind="preference",
    )  # fmt: skip
    snapshot = build(languages=["de"], kinds=["instruction", "preference"], splits={"train": 1.0})
    assert snapshot.status == Snapshot.Status.READY, snapshot.failure
    tokenizer = train_tokenizer(GERMAN * 5, vocab_size=400)

    pairs = load_examples(tokenizer, snapshot.uri, "dpo", seq_len=4096)
    decoded = sorted(
        (tokenizer.decode(p["prompt_ids"]), tokenizer.decode(p["chosen_ids"]), tokenizer.decode(p["rejected_ids"]))
        for p in pairs
    )  # fmt: skip

    assert decoded == sorted([
        (f"<s>[INST] {GERMAN[2]} [/INST]", f" {GERMAN[3]}</s>", f" {GERMAN[4]}</s>"),
        (f"<s>[INST] {GERMAN[5]} [/INST]", f" {GERMAN[7]}</s>", f" {GERMAN[8]}</s>"),  # the ranking: best first,
        (f"<s>[INST] {GERMAN[5]} [/INST]", f" {GERMAN[7]}</s>", f" {GERMAN[6]}</s>"),  # against each worse one
    ])  # fmt: skip
    assert len(load_examples(tokenizer, snapshot.uri, "sft", seq_len=4096)) == 1  # the instruction pair alone
