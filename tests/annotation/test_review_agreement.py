"""Agreement figures against reference implementations on hand-built cases."""

import math
import random

import numpy as np
import pytest

krippendorff = pytest.importorskip("krippendorff")
inter_rater = pytest.importorskip("statsmodels.stats.inter_rater")

from annotation.services.agreement import (  # noqa: E402
    cohen_kappa,
    fleiss_kappa,
    fleiss_kappa_from_labels,
    krippendorff_alpha,
    krippendorff_alpha_from_coders,
)

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the worked example:
# four coders, twelve units, missing values.
WORKED = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def _reference_alpha(data, level):
    array = np.array([[np.nan if v is None else v for v in row] for row in data], dtype=float)
    return krippendorff.alpha(reliability_data=array, level_of_measurement=level)


@pytest.mark.parametrize("level, published", [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)])
def test_alpha_on_the_worked_example(level, published):
    result = krippendorff_alpha(WORKED, level=level)
    assert result.value == pytest.approx(_reference_alpha(WORKED, level), abs=1e-9)
    assert result.value == pytest.approx(published, abs=1e-3)
    assert result.items == 11  # the last unit has one value: nothing to pair it with


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("level", ["ordinal", "interval"])
def test_alpha_on_random_ratings_with_gaps(seed, level):
    rng = random.Random(seed)
    data = [[rng.choice([None, 1, 2, 3, 4, 5, 5, 4]) for _ in range(30)] for _ in range(4)]
    assert krippendorff_alpha(data, level=level).value == pytest.approx(_reference_alpha(data, level), abs=1e-9)


def test_alpha_from_coders_matches_the_matrix_form():
    coders = {"a": {1: 4, 2: 5, 3: 2}, "b": {1: 4, 2: 4, 3: 1, 4: 3}, "c": {2: 5, 3: 2, 4: 3}}
    data = [[4, 5, 2, None], [4, 4, 1, 3], [None, 5, 2, 3]]
    assert krippendorff_alpha_from_coders(coders).value == pytest.approx(_reference_alpha(data, "ordinal"))


def test_alpha_is_undefined_without_variation():
    assert krippendorff_alpha([[3, 3], [3, 3]], level="ordinal").value is None
    assert krippendorff_alpha([[1, None], [None, 2]]).items == 0


FLEISS_TABLES = [
    # Fleiss (1971): 10 items, 14 raters, 5 categories (the Wikipedia example).
    [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
     [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]],
    # accept/reject with three annotators
    [[3, 0], [2, 1], [0, 3], [1, 2], [3, 0], [3, 0]],
    [[2, 0], [1, 1], [0, 2], [2, 0]],
]


@pytest.mark.parametrize("table", FLEISS_TABLES)
def test_fleiss_kappa(table):
    result = fleiss_kappa(table)
    assert result.value == pytest.approx(inter_rater.fleiss_kappa(np.array(table), method="fleiss"), abs=1e-9)
    assert result.items == len(table)


def test_fleiss_kappa_on_the_wikipedia_example():
    assert fleiss_kappa(FLEISS_TABLES[0]).value == pytest.approx(0.210, abs=1e-3)


def test_fleiss_from_labels_uses_items_with_the_common_count():
    units = [["accept", "accept"], ["accept", "reject"], ["reject", "reject"], ["accept"], ["accept"] * 3]
    result = fleiss_kappa_from_labels(units, categories=["accept", "reject"])
    expected = inter_rater.fleiss_kappa(np.array([[2, 0], [1, 1], [0, 2]]), method="fleiss")
    assert result.items == 3 and result.value == pytest.approx(expected)
    with pytest.raises(ValueError):
        fleiss_kappa([[2, 0], [1, 2]])


@pytest.mark.parametrize("seed", range(5))
def test_cohen_kappa(seed):
    rng = random.Random(seed)
    first = [rng.choice("ar") for _ in range(40)]
    second = [f if rng.random() < 0.7 else rng.choice("ar") for f in first]
    table = np.array([[sum(1 for a, b in zip(first, second) if (a, b) == (x, y)) for y in "ar"] for x in "ar"])
    result = cohen_kappa(first, second)
    assert result.value == pytest.approx(inter_rater.cohens_kappa(table, return_results=False), abs=1e-9)
    assert result.items == 40


def test_cohen_kappa_edges():
    assert cohen_kappa([], []).value is None
    assert cohen_kappa(["a", "a"], ["a", "a"]).value is None  # all one label: chance explains everything
    assert math.isclose(cohen_kappa(["a", "r"], ["a", "r"]).value, 1.0)
    with pytest.raises(ValueError):
        cohen_kappa(["a"], [])
