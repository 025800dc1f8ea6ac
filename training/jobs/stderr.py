"""Standard errors of an evaluation's scores, as lm-evaluation-harness reports them.

``lm_eval/api/metrics.py``: a metric aggregated by ``mean`` (acc, acc_norm)
gets ``mean_stderr`` = sample standard deviation (n - 1) / sqrt(n). A
bootstrappable one gets ``bootstrap_stderr``: the sample standard deviation of
the metric over resamples of the items. lm-eval's corpus-level
``weighted_perplexity`` (word/byte perplexity, bits per byte) is in neither
list and reports "N/A"; here the perplexities get the bootstrap over
documents, since a ratio of sums has no per-item mean to take the first
formula from.
"""

from __future__ import annotations

import math

import numpy as np

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 1234
_CHUNK = 250  # resamples drawn at once: memory stays chunk × documents


def mean_stderr(values: list[float]) -> float | None:
    """lm-eval's ``mean_stderr``; None for fewer than two items."""
    if len(values) < 2:
        return None
    mu = sum(values) / len(values)
    return math.sqrt(sum((v - mu) ** 2 for v in values) / (len(values) - 1)) / math.sqrt(len(values))


def perplexities(loglikelihood: float, words: float, n_bytes: float) -> dict[str, float]:
    """lm-eval's corpus-level perplexities from the summed log-likelihood of the documents."""
    return {
        "word_perplexity": math.exp(-loglikelihood / words),
        "byte_perplexity": math.exp(-loglikelihood / n_bytes),
        "bits_per_byte": -loglikelihood / n_bytes / math.log(2),
    }


def perplexity_stderrs(loglikelihoods: list[float], words: list[int], n_bytes: list[int]) -> dict[str, float | None]:
    """``<metric>_stderr`` of the three perplexities: bootstrap over documents, fixed seed; None below two."""
    names = ("word_perplexity_stderr", "byte_perplexity_stderr", "bits_per_byte_stderr")
    n = len(loglikelihoods)
    if n < 2:
        return dict.fromkeys(names)
    ll, w, b = (np.asarray(values, dtype=np.float64) for values in (loglikelihoods, words, n_bytes))
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    sums = []
    for start in range(0, BOOTSTRAP_RESAMPLES, _CHUNK):
        index = rng.integers(0, n, size=(min(_CHUNK, BOOTSTRAP_RESAMPLES - start), n))
        sums.append(np.stack([ll[index].sum(axis=1), w[index].sum(axis=1), b[index].sum(axis=1)], axis=1))
    ll_sum, w_sum, b_sum = np.concatenate(sums).T
    resampled = (np.exp(-ll_sum / w_sum), np.exp(-ll_sum / b_sum), -ll_sum / b_sum / math.log(2))
    return {name: float(np.std(values, ddof=1)) for name, values in zip(names, resampled)}
