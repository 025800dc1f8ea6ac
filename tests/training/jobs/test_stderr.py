"""Standard errors as lm-evaluation-harness computes them, checked against its formulas written out here."""

import math
import random

import numpy as np
import pytest

from training.jobs.stderr import mean_stderr, perplexities, perplexity_stderrs


def lm_eval_mean_stderr(arr):
    """lm-evaluation-harness, lm_eval/api/metrics.py (``sample_stddev`` and ``mean_stderr``), as written there:
    the standard error of a mean-aggregated metric such as acc is the sample standard deviation over sqrt(n)."""
    mu = sum(arr) / len(arr)
    sample_stddev = math.sqrt(sum([(x - mu) ** 2 for x in arr]) / (len(arr) - 1))
    return sample_stddev / math.sqrt(len(arr))


def test_accuracy_stderr_is_lm_evals_mean_stderr():
    rng = random.Random(7)
    for n in (2, 13, 400):
        correct = [float(rng.random() < 0.6) for _ in range(n)]
        assert mean_stderr(correct) == pytest.approx(lm_eval_mean_stderr(correct), rel=1e-12)
    assert mean_stderr([1.0]) is None  # lm-eval would divide by zero


def test_perplexity_stderr_is_a_seeded_bootstrap_that_agrees_with_the_delta_method():
    rng = np.random.default_rng(3)
    words = rng.integers(50, 400, size=300)
    lls = -words * rng.normal(4.0, 0.6, size=300)  # about 4 nats a word, varying by document
    got = perplexity_stderrs(lls.tolist(), words.tolist(), (words * 6).tolist())
    assert got == perplexity_stderrs(lls.tolist(), words.tolist(), (words * 6).tolist())  # fixed seed

    # The delta method for the ratio R = -sum(ll) / sum(words): se(R) ≈ sd(ll_i + R w_i) / (sqrt(n) mean(w)),
    # and se(exp R) ≈ exp(R) se(R).
    ratio = -lls.sum() / words.sum()
    se_ratio = np.std(lls + ratio * words, ddof=1) / (math.sqrt(len(words)) * words.mean())
    assert got["word_perplexity_stderr"] == pytest.approx(math.exp(ratio) * se_ratio, rel=0.1)
    assert got["bits_per_byte_stderr"] == pytest.approx(se_ratio / 6 / math.log(2), rel=0.1)
    assert perplexities(lls.sum(), words.sum(), words.sum() * 6)["word_perplexity"] == pytest.approx(math.exp(ratio))


def test_one_document_has_no_stderr():
    assert perplexity_stderrs([-10.0], [3], [12]) == dict.fromkeys(
        ["word_perplexity_stderr", "byte_perplexity_stderr", "bits_per_byte_stderr"]
    )
