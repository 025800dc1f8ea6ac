import pytest
from transformers import AutoTokenizer

from training.jobs.data import (
    IGNORE_INDEX,
    Batches,
    SnapshotError,
    encode_sft,
    load_examples,
    pack_cpt,
    verify_snapshot,
)


@pytest.fixture
def tokenizer(tiny_model):
    return AutoTokenizer.from_pretrained(tiny_model)


def test_sft_labels_only_the_assistant_tokens(tokenizer):
    chat = [
        {"role": "system", "content": "Antworte kurz."},
        {"role": "user", "content": "Zwei plus zwei?"},
        {"role": "assistant", "content": "Vier."},
        {"role": "user", "content": "Und drei plus drei?"},
        {"role": "assistant", "content": "Sechs."},
    ]
    example = encode_sft(tokenizer, chat, seq_len=512)
    ids, labels = example["input_ids"], example["labels"]

    learned = [token for token, label in zip(ids, labels) if label != IGNORE_INDEX]
    assert tokenizer.decode(learned) == " Vier.</s> Sechs.</s>"
    assert all(label in (token, IGNORE_INDEX) for token, label in zip(ids, labels))
    prompt = [token for token, label in zip(ids, labels) if label == IGNORE_INDEX]
    assert tokenizer.decode(prompt) == "<s>[INST] Antworte kurz.\n\nZwei plus zwei? [/INST][INST] Und drei plus drei? [/INST]"


def test_sft_reads_messages_and_prompt_response_rows(tokenizer, sft_snapshot):
    folder, _ = sft_snapshot
    examples = load_examples(tokenizer, folder, "sft", seq_len=64)
    assert len(examples) == 24
    assert all(any(label != IGNORE_INDEX for label in e["labels"]) for e in examples)


def test_cpt_packs_documents_with_eos_between_them(tokenizer):
    docs = ["Der Hund.", "Die Katze.", "Das Meer."]
    blocks = pack_cpt(tokenizer, docs, seq_len=8)
    stream = [token for block in blocks for token, label in zip(block["input_ids"], block["labels"]) if label != IGNORE_INDEX]
    expected = []
    for doc in docs:
        expected += tokenizer(doc, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    assert stream == expected
    assert all(len(block["input_ids"]) == 8 for block in blocks)
    assert blocks[-1]["input_ids"][-1] == tokenizer.pad_token_id  # last block padded, not dropped


def test_manifest_checksum_is_enforced(cpt_snapshot):
    folder, sha256 = cpt_snapshot
    assert verify_snapshot(folder, sha256) == sha256
    with pytest.raises(SnapshotError, match="sha256"):
        verify_snapshot(folder, "0" * 64)
    (folder / "manifest.json").unlink()
    with pytest.raises(SnapshotError, match="missing"):
        verify_snapshot(folder, sha256)


def test_batches_resume_at_the_same_micro_batch():
    examples = [{"input_ids": [i, i], "labels": [i, i]} for i in range(10)]
    batches = Batches(examples, batch_size=3, seed=7, pad_id=0)
    straight = batches.iterate(0)
    first_run = [next(straight)["input_ids"].tolist() for _ in range(8)]
    resumed = batches.iterate(5)
    assert [next(resumed)["input_ids"].tolist() for _ in range(3)] == first_run[5:]


def test_sft_skips_a_conversation_whose_answer_is_truncated_away(tokenizer, tmp_path):
    """One over-long prompt in a real snapshot must not fail the whole run after the model is loaded."""
    from tests.training.jobs.conftest import CHATS, write_snapshot

    long_chat = [{"role": "user", "content": "Wie heißt die Hauptstadt? " * 40}, {"role": "assistant", "content": "Berlin."}]
    empty = {"prompt": None, "response": None}
    rows = [{**empty, "kind": "conversation", "language": "de", "messages": chat} for chat in [*CHATS, long_chat]]
    folder, _ = write_snapshot(tmp_path / "snapshot", {"de": rows})

    examples = load_examples(tokenizer, folder, "sft", seq_len=64)

    assert len(examples) == len(CHATS)
    assert encode_sft(tokenizer, long_chat, seq_len=64) is None


def test_sft_still_fails_on_a_template_that_marks_no_assistant_tokens(tokenizer):
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    with pytest.raises(ValueError, match="generation"):
        encode_sft(tokenizer, [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Ho"}], seq_len=64)
