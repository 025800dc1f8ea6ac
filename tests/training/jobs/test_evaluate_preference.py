"""Preference accuracy against a hand computation, and the per-item scores an evaluation sends."""

import json

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from tests.training.jobs.conftest import Recorder
from training.jobs.contract import ContractError, EvalConfig, ItemScores, JobSpec, pack_bits, pack_floats
from training.jobs.evaluate import Scorer, load_suite, preference_texts, run_evaluation, score_preference

PAIRS = [
    {"prompt": "Wie heißt die Hauptstadt?", "chosen": "Berlin.", "rejected": ["Die Katze sitzt auf der Matte."]},
    {"prompt": [{"role": "system", "content": "Antworte kurz."}, {"role": "user", "content": "Zwei plus zwei?"}],
     "chosen": "Vier.", "rejected": ["Fünf.", "Im Sommer fahren wir an das Meer."]},
    {"prompt": "Wo schläft die Katze?", "chosen": "Die Katze schläft in der Sonne.", "rejected": ["Vier."]},
]  # fmt: skip


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_model):
    model = AutoModelForCausalLM.from_pretrained(tiny_model, use_safetensors=True).eval()
    return model, AutoTokenizer.from_pretrained(tiny_model)


def summed_logprob(model, tokenizer, turns, answer) -> float:
    """log p(assistant turn | prompt) with the chat template, one forward pass over the whole conversation."""
    context = tokenizer.apply_chat_template(turns, tokenize=True, add_generation_prompt=True, return_dict=True)["input_ids"]
    whole = tokenizer.apply_chat_template([*turns, {"role": "assistant", "content": answer}], tokenize=True,
                                          return_dict=True)["input_ids"]  # fmt: skip
    assert whole[: len(context)] == context
    with torch.no_grad():
        logprobs = torch.log_softmax(model(torch.tensor([whole])).logits[0].double(), dim=-1)
    return sum(float(logprobs[i - 1, whole[i]]) for i in range(len(context), len(whole)))


def test_preference_accuracy_compares_summed_log_likelihoods_given_the_prompt(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    got = score_preference(Scorer(model, tokenizer, max_length=256, batch_size=3), PAIRS)

    correct = []
    for pair in PAIRS:
        turns = [{"role": "user", "content": pair["prompt"]}] if isinstance(pair["prompt"], str) else pair["prompt"]
        chosen = summed_logprob(model, tokenizer, turns, pair["chosen"])
        correct.append(float(all(chosen > summed_logprob(model, tokenizer, turns, r) for r in pair["rejected"])))
    assert got["item_bits"]["pref_acc"] == correct
    assert got["pref_acc"] == pytest.approx(np.mean(correct)) and got["n_pairs"] == 3
    assert got["pref_acc_stderr"] == pytest.approx(np.std(correct, ddof=1) / np.sqrt(3))


def test_without_a_chat_template_the_answer_follows_the_prompt_after_a_space(model_and_tokenizer):
    _, tokenizer = model_and_tokenizer
    plain = AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    plain.chat_template = None
    assert preference_texts(plain, "Frage?", ["Ja.", "Nein."]) == [("Frage?", " Ja."), ("Frage?", " Nein.")]
    assert preference_texts(tokenizer, "Frage?", ["Ja."]) == [("<s>[INST] Frage? [/INST]", " Ja.</s>")]


def test_a_preference_split_gives_accuracy_stderr_and_item_scores(tiny_model, tmp_path):
    suite = tmp_path / "prefs"
    suite.mkdir()
    lines = [{**pair, "task": "preference"} for pair in PAIRS] + [{"text": "Die Katze schläft."}, {"text": "Ein Hund."}]
    (suite / "de.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    spec = JobSpec(run_id="eval-1", kind="evaluate", base_model=str(tiny_model), output_dir=str(tmp_path / "out"),
                   eval=EvalConfig(suites=[str(suite)]))  # fmt: skip

    scores = run_evaluation(spec, Recorder())["scores"]["de"]

    preference, documents = scores["preference"], scores["prefs"]
    assert preference["n"] == 3 and 0 <= preference["pref_acc"] <= 1 and preference["pref_acc_stderr"] is not None
    items = ItemScores.from_dict(preference["items"])
    assert items.n_items == 3 and np.mean(items.metric("pref_acc")) == pytest.approx(preference["pref_acc"])
    doc_items = ItemScores.from_dict(documents["items"])
    assert doc_items.documents("words") == [3.0, 2.0]
    assert sum(doc_items.documents("loglikelihood")) == pytest.approx(documents["loglikelihood"])
    assert documents["word_perplexity_stderr"] > 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["results"]["preference_de"]["pref_acc_stderr,none"] == preference["pref_acc_stderr"]
    assert results["higher_is_better"]["preference_de"] == {"pref_acc": True}


def test_a_pair_without_a_rejected_answer_is_refused_with_its_line(tmp_path):
    (tmp_path / "de.jsonl").write_text(json.dumps({"prompt": "P", "chosen": "A", "rejected": []}) + "\n")
    with pytest.raises(ValueError, match="de.jsonl:1: a preference pair needs"):
        load_suite(tmp_path)


def test_item_scores_pack_as_numpy_does_and_refuse_unknown_names():
    values = [1, 0, 1, 1, 0, 0, 0, 1, 1, 0, 1]
    scores = ItemScores(n_items=11, bits={"acc": pack_bits(values)}, floats={"words": pack_floats([3, 2.5])})
    assert scores.metric("acc") == values and scores.metric("acc_norm") is None
    assert np.unpackbits(np.frombuffer(__import__("base64").b64decode(scores.bits["acc"]), np.uint8))[:11].tolist() == values
    assert ItemScores.from_dict(scores.to_dict()).documents("words") == [3.0, 2.5]
    with pytest.raises(ContractError):
        ItemScores.from_dict({"n_items": 1, "bits": {"nonsense": "AA=="}})
