"""Analyst queries with relative errors, category and tail coverage, per-column distributions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synth_pipeline.evaluate.workload import (
    OTHER,
    category_coverage,
    column_distributions,
    public_bins,
    query_errors,
    tail_coverage,
)
from synth_pipeline.spec.evaluation import Query
from synth_pipeline.spec.schema import BooleanColumn, CategoricalColumn, NumericColumn

SCHEMA = {
    "group": CategoricalColumn(type="categorical", categories=("a", "b", "c", "d")),
    "value": NumericColumn(type="float", min=0, max=100),
    "flag": BooleanColumn(type="boolean"),
}


def _table(groups, values, flags):
    return pd.DataFrame({"group": pd.Categorical(groups, categories=["a", "b", "c", "d"]),
                         "value": pd.array(values, dtype="Float64"), "flag": pd.array(flags, dtype="boolean")})


# real: 12 rows in a (values 10, half flagged), 12 in b (values 30, none flagged), 1 in c
REAL = _table(["a"] * 12 + ["b"] * 12 + ["c"], [10.0] * 12 + [30.0] * 12 + [99.0], [True, False] * 6 + [False] * 12 + [True])
# synthetic, twice the size: a 30 rows (values 12, 15 flagged), b 20 rows (values 30, 5 flagged)
SYNTHETIC = _table(["a"] * 30 + ["b"] * 20, [12.0] * 30 + [30.0] * 20, [True, False] * 15 + [True] * 5 + [False] * 15)


def _groups(result):
    return {g["group"]: g for g in result["groups"]}


def test_counts_are_compared_at_the_real_size():
    [result] = query_errors(REAL, SYNTHETIC, [Query(name="n", metric="count", group_by=("group",))], SCHEMA,
                            min_group_rows=10)
    groups = _groups(result)
    assert groups["a"]["real"] == 12 and groups["a"]["synthetic"] == pytest.approx(30 * 25 / 50)
    assert groups["a"]["relative_error"] == pytest.approx(0.25)
    assert groups["b"]["relative_error"] == pytest.approx(abs(10 - 12) / 12)
    assert result["mean_relative_error"] == pytest.approx((0.25 + 2 / 12) / 2)


def test_means_and_shares_by_group():
    queries = [Query(name="mean", metric="mean", group_by=("group",), column="value"),
               Query(name="share", metric="share", group_by=("group",), column="flag", value=True)]
    means, shares = query_errors(REAL, SYNTHETIC, queries, SCHEMA, min_group_rows=10)
    assert _groups(means)["a"]["relative_error"] == pytest.approx(0.2)  # 12 vs 10
    assert _groups(means)["b"]["relative_error"] == 0.0
    assert _groups(shares)["a"]["relative_error"] == 0.0  # 1/2 flagged in both
    assert _groups(shares)["b"]["real"] == 0.0 and _groups(shares)["b"]["relative_error"] is None  # no relative error of 0


def test_small_groups_are_suppressed_and_missing_groups_flagged():
    [result] = query_errors(REAL, SYNTHETIC, [Query(name="m", metric="mean", group_by=("group",), column="value")],
                            SCHEMA, min_group_rows=10)
    group_c = _groups(result)["c"]
    assert group_c["suppressed"] and group_c["real"] is None  # one real row: its mean is that row's value
    assert result["groups_suppressed"] == 1
    [lenient] = query_errors(REAL, SYNTHETIC, [Query(name="m", metric="mean", group_by=("group",), column="value")],
                             SCHEMA, min_group_rows=1)
    assert _groups(lenient)["c"]["missing_in_synthetic"] and lenient["groups_missing_in_synthetic"] == 1


def test_a_query_without_groups_and_one_on_a_numeric_group():
    queries = [Query(name="all", metric="mean", column="value"),
               Query(name="binned", metric="count", group_by=("value",))]
    overall, binned = query_errors(REAL, SYNTHETIC, queries, SCHEMA, min_group_rows=1)
    assert _groups(overall)["(all rows)"]["real"] == pytest.approx((120 + 360 + 99) / 25)
    assert set(_groups(binned)) == {"[6.25, 12.5)", "[25, 31.25)", "[93.75, 100]"}  # public bins, never raw values


def test_category_coverage_names_missing_and_under_represented_categories():
    coverage = category_coverage(REAL, SYNTHETIC, SCHEMA, under_ratio=0.5)["group"]
    assert [entry["category"] for entry in coverage["missing"]] == ["c"]
    assert coverage["under_represented"] == []
    real = _table(["a"] * 10 + ["b"] * 10, [1.0] * 20, [True] * 20)
    synthetic = _table(["a"] * 19 + ["b"], [1.0] * 20, [True] * 20)
    [entry] = category_coverage(real, synthetic, SCHEMA, under_ratio=0.5)["group"]["under_represented"]
    assert (entry["category"], entry["real_share"], entry["synthetic_share"]) == ("b", 0.5, 0.05)


def test_undeclared_real_labels_are_counted_not_named():
    real = REAL.copy()
    real["group"] = real["group"].cat.add_categories(["SECRET-LABEL"])
    real.loc[0, "group"] = "SECRET-LABEL"
    coverage = category_coverage(real, SYNTHETIC, SCHEMA, under_ratio=0.5)
    assert coverage["group"]["real_rows_outside_levels"] == 1
    distributions = column_distributions(real, SYNTHETIC, SCHEMA)
    assert "SECRET-LABEL" not in str(coverage) + str(distributions)
    assert distributions["group"]["labels"][-2] == OTHER and distributions["group"]["real"][-2] == pytest.approx(1 / 25)


def test_tail_coverage_uses_real_quantiles_as_cut_points_only():
    real = _table(["a"] * 100, np.arange(100.0), [True] * 100)
    smoothed = _table(["a"] * 100, np.full(100, 50.0), [True] * 100)
    tails = tail_coverage(real, smoothed, SCHEMA, tail=0.05)["value"]
    assert tails["real_below"] == pytest.approx(0.05) and tails["real_above"] == pytest.approx(0.05)
    assert tails["synthetic_below"] == 0.0 and tails["synthetic_above"] == 0.0


def test_distributions_are_shares_on_public_bins():
    distributions = column_distributions(REAL, SYNTHETIC, SCHEMA, bins=4)
    value = distributions["value"]
    assert value["labels"] == ["[0, 25)", "[25, 50)", "[50, 75)", "[75, 100]", "(other)", "(missing)"]
    assert value["real"] == pytest.approx([12 / 25, 12 / 25, 0, 1 / 25, 0, 0])
    assert value["synthetic"] == pytest.approx([0.6, 0.4, 0, 0, 0, 0])
    assert sum(distributions["flag"]["synthetic"]) == pytest.approx(1.0)


@pytest.mark.parametrize(("spec", "labels"), [
    (NumericColumn(type="integer", min=1, max=4), ["1", "2", "3", "4"]),
    (NumericColumn(type="integer", min=17, max=90), ["[17, 21]", "[22, 26]", "[27, 31]", "[32, 36]", "[37, 41]",
                                                     "[42, 46]", "[47, 51]", "[52, 56]", "[57, 61]", "[62, 66]",
                                                     "[67, 71]", "[72, 76]", "[77, 81]", "[82, 86]", "[87, 90]"]),
    (NumericColumn(type="integer", min=0, max=99999, bin_edges=(0, 1, 5000, 99999)), ["[0, 1)", "[1, 5000)", "[5000, 99999]"]),
    (NumericColumn(type="float", min=0, max=1), ["[0, 0.5)", "[0.5, 1]"]),
])
def test_public_bins(spec, labels):
    assert public_bins(spec, 2 if spec.type == "float" else 16)[1] == labels
