"""Inter-annotator agreement: Cohen's and Fleiss' kappa, Krippendorff's alpha, pairwise agreement, Kendall's W.

Pure functions over plain lists, no Django. Each returns an ``Agreement``
with the number of items the figure rests on; the value is ``None`` when
the figure is undefined (no items, or no variation to agree beyond chance).
"""

from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class Agreement:
    value: float | None
    items: int


def cohen_kappa(first: list, second: list) -> Agreement:
    """Cohen's kappa between two annotators' labels on the same items, in the same order."""
    if len(first) != len(second):
        raise ValueError("both annotators must label the same items")
    n = len(first)
    if not n:
        return Agreement(None, 0)
    observed = sum(1 for a, b in zip(first, second) if a == b) / n
    counts_a, counts_b = Counter(first), Counter(second)
    expected = sum(counts_a[c] * counts_b[c] for c in counts_a) / (n * n)
    if expected == 1:
        return Agreement(None, n)
    return Agreement((observed - expected) / (1 - expected), n)


def fleiss_kappa(table: list[list[int]]) -> Agreement:
    """Fleiss' kappa from an items × categories table of counts, the same number of raters per item."""
    if not table:
        return Agreement(None, 0)
    raters = sum(table[0])
    if raters < 2 or any(sum(row) != raters for row in table):
        raise ValueError("every item needs the same number (≥ 2) of ratings")
    items = len(table)
    shares = [sum(row[j] for row in table) / (items * raters) for j in range(len(table[0]))]
    per_item = [(sum(c * c for c in row) - raters) / (raters * (raters - 1)) for row in table]
    observed = sum(per_item) / items
    expected = sum(p * p for p in shares)
    if expected == 1:
        return Agreement(None, items)
    return Agreement((observed - expected) / (1 - expected), items)


def fleiss_kappa_from_labels(units: list[list], *, categories: list) -> Agreement:
    """Fleiss' kappa over items given as lists of labels.

    Fleiss needs the same number of raters per item: items with the most
    common count (at least two) are used, the rest left out of the figure.
    """
    sizes = Counter(len(labels) for labels in units if len(labels) >= 2)
    if not sizes:
        return Agreement(None, 0)
    size = sizes.most_common(1)[0][0]
    table = [[labels.count(c) for c in categories] for labels in units if len(labels) == size]
    return fleiss_kappa(table)


def krippendorff_alpha(reliability_data: list[list], *, level: str = "nominal") -> Agreement:
    """Krippendorff's alpha; rows are coders, columns units, ``None`` where a coder gave no value.

    ``level`` is "nominal", "ordinal" or "interval". Units with fewer than
    two values cannot be paired and are left out (``items`` counts the rest).
    """
    units = [[v for v in column if v is not None] for column in zip(*reliability_data)]
    units = [values for values in units if len(values) >= 2]
    values = sorted({v for unit in units for v in unit})
    coincidences = Counter()
    for unit in units:
        weight = 1 / (len(unit) - 1)
        for i, c in enumerate(unit):
            for j, k in enumerate(unit):
                if i != j:
                    coincidences[c, k] += weight
    totals = Counter()
    for (c, _), count in coincidences.items():
        totals[c] += count
    n = sum(totals.values())
    delta = _distance(level, values, totals)
    disagreement = sum(count * delta(c, k) for (c, k), count in coincidences.items())
    by_chance = sum(totals[c] * totals[k] * delta(c, k) for c in values for k in values)
    if not units or by_chance == 0:
        return Agreement(None, len(units))
    return Agreement(1 - (n - 1) * disagreement / by_chance, len(units))


def _distance(level, values, totals):
    if level == "nominal":
        return lambda c, k: 0.0 if c == k else 1.0
    if level == "interval":
        return lambda c, k: float(c - k) ** 2
    if level == "ordinal":
        rank = {v: i for i, v in enumerate(values)}

        def ordinal(c, k):
            lo, hi = sorted((rank[c], rank[k]))
            between = sum(totals[values[g]] for g in range(lo, hi + 1))
            return (between - (totals[c] + totals[k]) / 2) ** 2

        return ordinal
    raise ValueError(f"unknown level of measurement {level!r}")


def krippendorff_alpha_from_coders(coders: dict, *, level: str = "ordinal") -> Agreement:
    """``{coder: {unit: value}}`` → Krippendorff's alpha."""
    unit_ids = sorted({unit for given in coders.values() for unit in given})
    data = [[given.get(unit) for unit in unit_ids] for given in coders.values()]
    return krippendorff_alpha(data, level=level) if data else Agreement(None, 0)


def pairwise_agreement(units: list[list]) -> Agreement:
    """The share of pairs of answers on the same item that are equal, over all items' pairs.

    Items with fewer than two answers have no pair and are left out.
    """
    agreeing = pairs = items = 0
    for labels in units:
        if len(labels) < 2:
            continue
        items += 1
        counts = Counter(labels)
        agreeing += sum(c * (c - 1) // 2 for c in counts.values())
        pairs += len(labels) * (len(labels) - 1) // 2
    return Agreement(agreeing / pairs if pairs else None, items)


def kendall_w(ranks: list[list[float]]) -> float | None:
    """Kendall's W for m raters' ranks (1 = best, ties as mean ranks) of the same n objects, tie-corrected.

    W = 12 S / (m² (n³ − n) − m Σ T), S the squared deviations of the
    objects' rank sums from their mean, T = Σ (t³ − t) over each rater's
    groups of t tied objects. None when undefined (one rater, one object,
    or every rater tying all objects).
    """
    m, n = len(ranks), len(ranks[0]) if ranks else 0
    if m < 2 or n < 2 or any(len(row) != n for row in ranks):
        return None
    sums = [sum(row[j] for row in ranks) for j in range(n)]
    mean = sum(sums) / n
    s = sum((total - mean) ** 2 for total in sums)
    ties = sum(t ** 3 - t for row in ranks for t in Counter(row).values())
    denominator = m * m * (n ** 3 - n) - m * ties
    return 12 * s / denominator if denominator else None


def kendall_w_mean(items: list[list[list[float]]]) -> Agreement:
    """Kendall's W per item (its raters' ranks of its responses), averaged over the items where it is defined."""
    values = [w for w in (kendall_w(ranks) for ranks in items) if w is not None]
    return Agreement(sum(values) / len(values) if values else None, len(values))
