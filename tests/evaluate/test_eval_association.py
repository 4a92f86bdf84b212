"""Pairwise association measures with hand-computable answers, and the real-vs-synthetic difference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synth_pipeline.evaluate.association import association_difference, correlation_ratio, cramers_v
from synth_pipeline.spec.schema import CategoricalColumn, NumericColumn


@pytest.mark.parametrize(("a", "b", "expected"), [
    ([0, 0, 1, 1], [0, 0, 1, 1], 1.0),          # one determines the other
    ([0, 0, 1, 1], [0, 1, 0, 1], 0.0),          # independent
    ([0, 1, 2, 0, 1, 2], [0, 0, 0, 0, 0, 0], None),  # a constant column: undefined
    # 2x2 table [[2, 1], [1, 2]]: chi2 = 6 * (2*2 - 1*1)^2 / (3*3*3*3) = 2/3, V = sqrt(2/3 / 6)
    ([0, 0, 0, 1, 1, 1], [0, 0, 1, 0, 1, 1], np.sqrt((2 / 3) / 6)),
])
def test_cramers_v(a, b, expected):
    value = cramers_v(np.array(a), np.array(b))
    assert value == pytest.approx(expected) if expected is not None else value is None


@pytest.mark.parametrize(("codes", "values", "expected"), [
    ([0, 0, 1, 1], [1.0, 1.0, 3.0, 3.0], 1.0),
    ([0, 1, 0, 1], [1.0, 1.0, 3.0, 3.0], 0.0),
    # group means 1 and 3, grand mean 2.5 over [1, 3, 3, 3]: between = 1*2.25 + 3*0.25 = 3, total = 3
    ([0, 1, 1, 1], [1.0, 3.0, 3.0, 3.0], 1.0),
    # between = 2*(1.5-2.5)^2 + 2*(3.5-2.5)^2 = 4, total = 5: eta = sqrt(0.8)
    ([0, 0, 1, 1], [1.0, 2.0, 3.0, 4.0], np.sqrt(0.8)),
    ([0, 1], [np.nan, 2.0], None),  # one present value: undefined
])
def test_correlation_ratio(codes, values, expected):
    value = correlation_ratio(np.array(codes), np.array(values))
    assert value == pytest.approx(expected) if expected is not None else value is None


SCHEMA = {"x": NumericColumn(type="float", min=0, max=10), "y": NumericColumn(type="float", min=0, max=100),
          "c": CategoricalColumn(type="categorical", categories=("a", "b"))}


def _table(x, y, c):
    return pd.DataFrame({"x": pd.array(x, dtype="Float64"), "y": pd.array(y, dtype="Float64"),
                         "c": pd.Categorical(c, categories=["a", "b"])})


def test_identical_tables_differ_by_nothing():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, 200)
    table = _table(x, x ** 2, np.where(x > 5, "a", "b"))
    result = association_difference(table, table, SCHEMA)
    assert result["mean_difference"] == 0.0 and result["max_difference"] == 0.0
    measures = {(tuple(p["columns"]), p["measure"]): p["real"] for p in result["pairs"]}
    assert measures[(("x", "y"), "spearman")] == pytest.approx(1.0)  # monotone, so rank correlation 1
    assert 0.9 < measures[(("x", "y"), "pearson")] < 1.0
    assert set(result["by_measure"]) == {"pearson", "spearman", "correlation_ratio"}


def test_a_reversed_relation_differs_by_two():
    real = _table([1, 2, 3, 4], [10, 20, 30, 40], ["a", "a", "b", "b"])
    synthetic = _table([1, 2, 3, 4], [40, 30, 20, 10], ["a", "b", "a", "b"])
    result = association_difference(real, synthetic, SCHEMA)
    pairs = {(tuple(p["columns"]), p["measure"]): p for p in result["pairs"]}
    assert pairs[(("x", "y"), "pearson")]["difference"] == pytest.approx(2.0)
    assert pairs[(("x", "c"), "correlation_ratio")]["real"] == pytest.approx(np.sqrt(0.8))
    assert pairs[(("x", "c"), "correlation_ratio")]["synthetic"] == pytest.approx(np.sqrt(1 / 5))  # means 2 and 3: between 1, total 5
    assert result["max_difference"] == pytest.approx(2.0)


def test_missing_numbers_are_dropped_pairwise():
    real = _table([1, 2, np.nan, 4], [1, 2, 99, 4], ["a", "a", "b", "b"])
    pairs = {(tuple(p["columns"]), p["measure"]): p for p in association_difference(real, real, SCHEMA)["pairs"]}
    assert pairs[(("x", "y"), "pearson")]["real"] == pytest.approx(1.0)
