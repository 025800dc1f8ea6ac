"""Is a run's score different from its base model's? A paired bootstrap over the items both were scored on.

Both models answered the same items (same suite file, same count), so the
item-level differences are resampled together, not each model's scores
apart: what two models get right in common cancels out, and a small native
suite shows a difference only where it is larger than its noise. A delta is
*significant* when its 95 % percentile interval excludes zero.

- 0/1 metrics (acc, acc_norm, pref_acc): the resampled mean difference only
  depends on how many drawn items the run won (+1), lost (−1) or tied (0),
  so each resample is one multinomial draw of those three counts — the same
  distribution as drawing item indices, in O(resamples) not O(resamples × n).
- perplexities: documents are drawn with replacement and the corpus-level
  perplexity of both models computed on each draw (lm-eval's weighted
  perplexity: a ratio of sums, so the indices themselves are needed).

numpy with a fixed seed: the same two results always give the same interval.
Each comparison is computed once and kept in the cache under a hash of the
two results' item scores.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

import numpy as np
from django.core.cache import cache

from training.jobs.contract import (
    HIGHER_IS_BETTER, METRICS, MULTIPLE_CHOICE_METRICS, PERPLEXITY_METRICS, PREFERENCE_METRICS, ContractError, ItemScores,
)  # fmt: skip

RESAMPLES = 2000
SEED = 1234
LEVEL = 0.95
_CHUNK = 250  # document resamples drawn at once: memory stays chunk × documents
_CACHE_SECONDS = 7 * 24 * 3600
BINARY_METRICS = MULTIPLE_CHOICE_METRICS + PREFERENCE_METRICS


@dataclass(frozen=True)
class Delta:
    """The run's score minus the base model's, with the 95 % paired-bootstrap interval where the items pair up."""

    metric: str
    value: float
    low: float | None = None
    high: float | None = None

    @property
    def significant(self) -> bool:
        return self.low is not None and (self.low > 0 or self.high < 0)

    @property
    def better(self) -> bool:
        """The run did better: higher accuracy, or lower perplexity."""
        return (self.value > 0) == (self.metric in HIGHER_IS_BETTER)


def result_deltas(result, base) -> dict[str, Delta]:
    """``{metric: Delta}`` of two EvaluationResults (the run's, the base model's) for every metric both have."""
    intervals = _cached_intervals(result, base) if _same_items(result, base) else {}
    deltas = {}
    for name in METRICS:
        mine, theirs = getattr(result, name), getattr(base, name)
        if mine is not None and theirs is not None:
            low, high = intervals.get(name) or (None, None)
            deltas[name] = Delta(metric=name, value=mine - theirs, low=low, high=high)
    return deltas


def _same_items(result, base) -> bool:
    # The same file (sha256) cut to the same counts: max_items keeps the first items, so the same ones.
    return bool(result.data_sha256) and result.data_sha256 == base.data_sha256 and (
        (result.n_items, result.n_pairs, result.n_docs) == (base.n_items, base.n_pairs, base.n_docs)
    )


def _cached_intervals(result, base) -> dict[str, tuple[float, float]]:
    # Keyed by the item scores themselves, not the rows' ids: a key can then never name other numbers.
    scores = json.dumps([result.item_scores, base.item_scores], sort_keys=True).encode()
    key = f"result-deltas:v1:{RESAMPLES}:{SEED}:{hashlib.sha256(scores).hexdigest()}"
    intervals = cache.get(key)
    if intervals is None:
        intervals = paired_intervals(result.item_scores, base.item_scores)
        cache.set(key, intervals, _CACHE_SECONDS)
    return intervals


def paired_intervals(mine: dict, theirs: dict) -> dict[str, tuple[float, float]]:
    """``{metric: (low, high)}`` of (mine − theirs) for the metrics both item scores carry; {} if they do not pair."""
    try:
        a, b = ItemScores.from_dict(mine), ItemScores.from_dict(theirs)
    except ContractError:
        return {}
    if (a.n_items, a.n_docs) != (b.n_items, b.n_docs):
        return {}
    intervals = {}
    for name in BINARY_METRICS:
        mine_items, their_items = a.metric(name), b.metric(name)
        if a.n_items and mine_items is not None and their_items is not None:
            intervals[name] = binary_interval(mine_items, their_items)
    sums_a = {name: a.documents(name) for name in ("loglikelihood", "words", "bytes")}
    ll_b = b.documents("loglikelihood")
    if a.n_docs and ll_b is not None and all(values is not None for values in sums_a.values()):
        intervals.update(perplexity_intervals(sums_a["loglikelihood"], ll_b, sums_a["words"], sums_a["bytes"]))
    return intervals


def binary_interval(mine: list[int], theirs: list[int]) -> tuple[float, float]:
    """95 % interval of mean(mine) − mean(theirs) by paired bootstrap over items (0/1 scores)."""
    difference = np.asarray(mine, dtype=np.int8) - np.asarray(theirs, dtype=np.int8)
    n = len(difference)
    shares = [np.count_nonzero(difference == 1) / n, np.count_nonzero(difference == 0) / n]
    counts = np.random.default_rng(SEED).multinomial(n, [*shares, max(0.0, 1.0 - sum(shares))], size=RESAMPLES)
    return _percentiles((counts[:, 0] - counts[:, 2]) / n)


def perplexity_intervals(ll_mine, ll_theirs, words, n_bytes) -> dict[str, tuple[float, float]]:
    """95 % intervals of the perplexity differences (mine − theirs), documents drawn together for both."""
    ll_a, ll_b, w, b = (np.asarray(v, dtype=np.float64) for v in (ll_mine, ll_theirs, words, n_bytes))
    rng, n = np.random.default_rng(SEED), len(w)
    draws = {name: [] for name in PERPLEXITY_METRICS}
    for start in range(0, RESAMPLES, _CHUNK):
        index = rng.integers(0, n, size=(min(_CHUNK, RESAMPLES - start), n))
        a, c, words_sum, bytes_sum = ll_a[index].sum(1), ll_b[index].sum(1), w[index].sum(1), b[index].sum(1)
        draws["word_perplexity"].append(np.exp(-a / words_sum) - np.exp(-c / words_sum))
        draws["byte_perplexity"].append(np.exp(-a / bytes_sum) - np.exp(-c / bytes_sum))
        draws["bits_per_byte"].append((c - a) / bytes_sum / math.log(2))
    return {name: _percentiles(np.concatenate(values)) for name, values in draws.items()}


def _percentiles(values: np.ndarray) -> tuple[float, float]:
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)
