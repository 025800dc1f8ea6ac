"""Standard errors and deltas against the base model on the pages: a delta is marked only when significant."""

import numpy as np
import pytest
from django.urls import reverse

from training.jobs.contract import Done, ItemScores, pack_bits, pack_floats
from training.models import EvaluationResult, EvaluationRun, EvaluationSuite, TrainingRun
from training.services.result_deltas import RESAMPLES, SEED, binary_interval, paired_intervals, perplexity_intervals, result_deltas
from training.services.run_events import run_event_record

from .run_helpers import make_run

pytestmark = pytest.mark.django_db

SHA = "a" * 64


def bits(n_right: int, n: int) -> list[int]:
    return [1] * n_right + [0] * (n - n_right)


def items(**metrics) -> dict:
    n = len(next(iter(metrics.values())))
    return ItemScores(n_items=n, bits={name: pack_bits(values) for name, values in metrics.items()}).to_dict()


def test_the_binary_shortcut_matches_resampling_item_indices():
    rng = np.random.default_rng(0)
    mine, theirs = (rng.random(300) < 0.6).astype(int), (rng.random(300) < 0.5).astype(int)
    index = np.random.default_rng(SEED).integers(0, 300, size=(RESAMPLES, 300))
    direct = np.percentile((mine[index] - theirs[index]).mean(axis=1), [2.5, 97.5])
    low, high = binary_interval(mine.tolist(), theirs.tolist())
    assert low == pytest.approx(direct[0], abs=0.01) and high == pytest.approx(direct[1], abs=0.01)
    assert binary_interval(mine.tolist(), theirs.tolist()) == (low, high)  # fixed seed


def test_a_small_suite_does_not_crown_noise_but_a_large_gain_is_significant():
    # 20 items, 11 right against 9: +0.10 is well inside the noise.
    assert not result_deltas(*_pair(bits(11, 20), bits(9, 20)))["acc"].significant
    # 200 items, 150 right against 100, the base's 100 among the run's: +0.25, significant and better.
    delta = result_deltas(*_pair(bits(150, 200), bits(100, 200)))["acc"]
    assert delta.significant and delta.better and delta.low > 0 and delta.value == pytest.approx(0.25)


def _pair(mine: list[int], theirs: list[int]):
    run = EvaluationResult(pk=1, language="de", task="arc", n_items=len(mine), data_sha256=SHA, item_scores=items(acc=mine),
                           acc=float(np.mean(mine)))  # fmt: skip
    base = EvaluationResult(pk=2, language="de", task="arc", n_items=len(theirs), data_sha256=SHA,
                            item_scores=items(acc=theirs), acc=float(np.mean(theirs)))  # fmt: skip
    return run, base


def test_different_items_give_a_delta_without_an_interval():
    run, base = _pair(bits(150, 200), bits(100, 200))
    base.data_sha256 = "b" * 64
    delta = result_deltas(run, base)["acc"]
    assert delta.low is None and not delta.significant and delta.value == pytest.approx(0.25)


def test_a_lower_perplexity_on_the_same_documents_is_significantly_better():
    rng = np.random.default_rng(1)
    words = rng.integers(50, 200, size=100).astype(float)
    base_ll = -words * rng.normal(4.0, 0.3, size=100)
    intervals = perplexity_intervals((base_ll + 0.2 * words).tolist(), base_ll.tolist(), words.tolist(), (words * 6).tolist())
    assert intervals["word_perplexity"][1] < 0 and intervals["bits_per_byte"][1] < 0
    same = paired_intervals(*[ItemScores(n_docs=100, floats={"loglikelihood": pack_floats(base_ll), "words": pack_floats(words),
                                                               "bytes": pack_floats(words * 6)}).to_dict()] * 2)  # fmt: skip
    assert same["word_perplexity"] == (0.0, 0.0)


def test_the_done_event_stores_standard_errors_pref_acc_and_item_scores():
    run = make_run()
    suite = EvaluationSuite.objects.create(name="prefs", path="/suites/prefs")
    evaluation = EvaluationRun.objects.create(training_run=run, model_path="/m", status="running")
    evaluation.suites.add(suite)
    entry = {"acc": None, "acc_norm": None, "pref_acc": 0.75, "pref_acc_stderr": 0.25, "word_perplexity": 12.0,
             "word_perplexity_stderr": 1.5, "byte_perplexity": 1.4, "byte_perplexity_stderr": 0.1, "bits_per_byte": 0.5,
             "bits_per_byte_stderr": 0.05, "n": 6, "n_pairs": 4, "n_docs": 2, "suite": "prefs", "data_sha256": SHA,
             "items": items(pref_acc=[1, 1, 0, 1])}  # fmt: skip
    event = Done(scores={"de": {"preference": entry}}, attempt=evaluation.attempt).to_dict()
    assert run_event_record(run_id=evaluation.job_id, seq=0, event=event)
    result = EvaluationResult.objects.get(evaluation=evaluation)
    assert (result.pref_acc, result.pref_acc_stderr, result.word_perplexity_stderr) == (0.75, 0.25, 1.5)
    assert (result.n_pairs, result.n_docs, result.n_items) == (4, 2, 0)
    assert ItemScores.from_dict(result.item_scores).metric("pref_acc") == [1, 1, 0, 1]


@pytest.fixture
def published_with_base():
    """A published run and its base model on two tasks: a large gain on one, noise on the other."""
    run = make_run()
    TrainingRun.objects.filter(pk=run.pk).update(published=True, status="succeeded")
    mine = EvaluationRun.objects.create(training_run=run, model_path="/m", status="succeeded")
    base = EvaluationRun.objects.create(base_model=run.base_model, model_path="/b", status="succeeded")
    for evaluation, large, small in ((mine, bits(150, 200), bits(11, 20)), (base, bits(100, 200), bits(9, 20))):
        for task, values in (("arc", large), ("prefs", small)):
            metric = "acc" if task == "arc" else "pref_acc"
            EvaluationResult.objects.create(
                evaluation=evaluation, provenance="native", language="de", task=task, n=len(values),
                n_items=len(values) if task == "arc" else 0, n_pairs=len(values) if task == "prefs" else 0,
                data_sha256=SHA, item_scores=items(**{metric: values}),
                **{metric: float(np.mean(values)), f"{metric}_stderr": float(np.std(values, ddof=1) / np.sqrt(len(values)))},
            )  # fmt: skip
    return run


def test_the_leaderboard_shows_stderrs_and_marks_only_the_significant_delta(client, published_with_base):
    page = client.get(reverse("leaderboard")).content.decode()
    assert "0.7500 <span class=\"stderr\" data-stderr>± 0.0307</span>" in page  # sqrt(.75 × .25 × 200/199 / 200)
    assert "0.5500 <span class=\"stderr\" data-stderr>± 0.1141</span>" in page
    assert page.count("data-significant") == 1 and "▲ +0.2500" in page and "+0.1000" in page
    assert "data-score-legend" in page


def test_the_run_page_shows_stderrs_intervals_and_the_legend(client, published_with_base):
    page = client.get(reverse("run_detail", args=[published_with_base.pk])).content.decode()
    assert "± 0.0307" in page and "± 0.0354" in page  # the run's and the base model's acc on arc
    assert page.count("data-significant") == 1 and "data-score-legend" in page and "data-n-pairs" in page


def test_the_legend_and_intervals_are_translated(client, published_with_base):
    page = client.get(reverse("leaderboard"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Standardfehler" in page and "95-%-Intervall: 0,1950 bis 0,3150" in page and "signifikant besser" in page
