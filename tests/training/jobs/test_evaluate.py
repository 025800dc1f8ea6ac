"""Evaluation numbers against a hand computation with the model's own logits."""

import json
import math

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from tests.training.jobs.conftest import Recorder
from training.jobs.evaluate import (
    Scorer,
    get_rolling_token_windows,
    load_suite,
    make_disjoint_window,
    run_evaluation,
    score_multiple_choice,
    score_perplexity,
    to_lm_eval_results,
)
from training.jobs.contract import EvalConfig, JobSpec

ITEMS = [
    {"question": "Die Hauptstadt von Deutschland ist", "choices": ["Berlin", "Rom", "eine sehr lange Antwort"], "answer": 0},
    {"question": "Zwei plus zwei ist", "choices": ["vier", "fünf"], "answer": 1},
    {"question": "Die Katze sitzt auf der", "choices": ["Matte", "Sonne im Garten"], "answer": "Matte"},
]
DOCS = ["Der schnelle braune Fuchs springt über den faulen Hund. Die Katze schläft.", "O rato roeu a roupa do rei."]


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_model):
    model = AutoModelForCausalLM.from_pretrained(tiny_model, use_safetensors=True).eval()
    return model, AutoTokenizer.from_pretrained(tiny_model)


def logprob_of(model, context: list[int], targets: list[int]) -> float:
    """log p(targets | context), one forward pass over context + targets."""
    ids = torch.tensor([context + targets])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(ids).logits[0].double(), dim=-1)
    return sum(float(logprobs[len(context) - 1 + i, token]) for i, token in enumerate(targets))


def test_multiple_choice_matches_a_hand_computation(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    scorer = Scorer(model, tokenizer, max_length=256, batch_size=2)
    items = [dict(item) for item in ITEMS]
    items[2]["answer"] = 0  # "Matte", given as text in the suite file

    got = score_multiple_choice(scorer, items)

    acc, acc_norm = [], []
    for item in items:
        scores = []
        for choice in item["choices"]:
            context = tokenizer(item["question"], add_special_tokens=False)["input_ids"]
            whole = tokenizer(item["question"] + " " + choice, add_special_tokens=False)["input_ids"]
            scores.append(logprob_of(model, context, whole[len(context):]))
        lengths = np.array([len(choice) for choice in item["choices"]], dtype=float)
        acc.append(float(np.argmax(scores) == item["answer"]))
        acc_norm.append(float(np.argmax(np.array(scores) / lengths) == item["answer"]))
    assert got["acc"] == pytest.approx(np.mean(acc))
    assert got["acc_norm"] == pytest.approx(np.mean(acc_norm))
    assert got["acc_stderr"] == pytest.approx(np.std(acc, ddof=1) / math.sqrt(len(acc)))
    assert got["n_mc"] == 3


def test_an_empty_choice_counts_one_character_instead_of_failing_the_evaluation(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    scorer = Scorer(model, tokenizer, max_length=256, batch_size=2)
    got = score_multiple_choice(scorer, [{"question": "Welche Farbe hat der Himmel?", "choices": ["blau", ""], "answer": 0}])
    assert got["n_mc"] == 1 and got["acc_norm"] in (0.0, 1.0)


def test_rolling_windows_follow_lm_eval():
    tokens = list(range(10, 21))  # 11 tokens, window 4
    windows = [make_disjoint_window(w) for w in get_rolling_token_windows(tokens, 0, 4, 1)]
    assert windows == [
        ([0], [10, 11, 12, 13]),
        ([13], [14, 15, 16, 17]),
        ([16, 17], [18, 19, 20]),  # the model still sees 4 input tokens: 16 17 18 19
    ]


def test_perplexity_matches_a_hand_computation(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    window = 5  # shorter than the documents, so several rolling windows each
    scorer = Scorer(model, tokenizer, max_length=window, batch_size=3)

    got = score_perplexity(scorer, DOCS)

    total = 0.0
    for doc in DOCS:
        tokens = tokenizer(doc, add_special_tokens=False)["input_ids"]
        assert len(tokens) > window  # at least two windows, the last one partial
        for start in range(0, len(tokens), window):
            targets = tokens[start : start + window]
            end = start + len(targets)
            # every token is predicted once; a window sees at most `window` tokens of input
            context = [tokenizer.bos_token_id] if start == 0 else tokens[end - window - 1 : start]
            total += logprob_of(model, context, targets)
    words = sum(len(doc.split()) for doc in DOCS)
    n_bytes = sum(len(doc.encode("utf-8")) for doc in DOCS)
    assert got["loglikelihood"] == pytest.approx(total, rel=1e-4)
    assert got["word_perplexity"] == pytest.approx(math.exp(-total / words), rel=1e-4)
    assert got["byte_perplexity"] == pytest.approx(math.exp(-total / n_bytes), rel=1e-4)
    assert got["bits_per_byte"] == pytest.approx(-total / n_bytes / math.log(2), rel=1e-4)


def test_evaluation_job_writes_per_language_scores_and_lm_eval_results(tiny_model, tmp_path):
    suite = tmp_path / "suites" / "mini"
    suite.mkdir(parents=True)
    (suite / "de.jsonl").write_text(
        "\n".join(json.dumps(line) for line in ITEMS + [{"text": DOCS[0]}]) + "\n", encoding="utf-8"
    )
    (suite / "pt-BR.jsonl").write_text(json.dumps({"text": DOCS[1]}) + "\n", encoding="utf-8")
    spec = JobSpec(
        run_id="eval-1", kind="evaluate", base_model=str(tiny_model), output_dir=str(tmp_path / "out"),
        eval=EvalConfig(suites=[str(suite)], max_items=2, batch_size=4),
    )  # fmt: skip
    events = Recorder()

    done = run_evaluation(spec, events)

    scores = done["scores"]
    assert set(scores) == {"de", "pt-BR"}
    de = scores["de"]["mini"]
    assert de["n"] == 3 and de["n_mc"] == 2 and de["n_docs"] == 1  # max_items cuts the third item
    assert 0.0 <= de["acc"] <= 1.0 and de["word_perplexity"] > 1.0 and de["bits_per_byte"] > 0
    assert scores["pt-BR"]["mini"]["acc"] is None
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["results"]["mini_de"]["acc,none"] == de["acc"]
    assert results["results"]["mini_pt-BR"]["bits_per_byte,none"] == scores["pt-BR"]["mini"]["bits_per_byte"]
    assert results["versions"]["mini_de"] == 1.0 and results["n-shot"]["mini_de"] == 0
    assert results["task_hashes"]["mini_de"] == load_suite(suite).sha256["de"]
    assert {e["event"] for e in events} >= {"start", "progress", "done"}


def test_lm_eval_layout_has_stderr_na_for_perplexity():
    scores = {"fr": {"wiki": {"acc": None, "acc_norm": None, "word_perplexity": 12.0, "byte_perplexity": 1.5,
                               "bits_per_byte": 0.58, "n": 4}}}  # fmt: skip
    results = to_lm_eval_results(scores, model_name="org/model", seed=3)
    assert results["results"]["wiki_fr"] == {
        "alias": "wiki_fr",
        "word_perplexity,none": 12.0, "word_perplexity_stderr,none": "N/A",
        "byte_perplexity,none": 1.5, "byte_perplexity_stderr,none": "N/A",
        "bits_per_byte,none": 0.58, "bits_per_byte_stderr,none": "N/A",
    }  # fmt: skip
    assert results["higher_is_better"]["wiki_fr"]["word_perplexity"] is False
    assert results["config"]["model_args"] == "pretrained=org/model" and results["config"]["random_seed"] == 3
