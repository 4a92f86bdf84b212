"""The public-domain metric, nearest neighbours, and the distance-to-closest-record statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synth_pipeline.evaluate.distance import (
    distance_to_closest_record,
    equal_size_share,
    nndr,
    share_closer_to_train,
)
from synth_pipeline.evaluate.encoding import MixedEncoder, Neighbours, nearest, nearest_index, row_keys
from synth_pipeline.spec.schema import BooleanColumn, CategoricalColumn, NumericColumn, StringColumn

SCHEMA = {
    "x": NumericColumn(type="float", min=0, max=10, nullable=True),
    "c": CategoricalColumn(type="categorical", categories=("a", "b", "c")),
    "flag": BooleanColumn(type="boolean"),
    "note": StringColumn(type="string"),
}


def _frame(x, c, flag):
    return pd.DataFrame({"x": pd.array(x, dtype="Float64"), "c": pd.Categorical(c, categories=["a", "b", "c"]),
                         "flag": pd.array(flag, dtype="boolean"), "note": ["free text"] * len(x)})


@pytest.mark.parametrize(("a", "b", "squared"), [
    ((5.0, "a", True), (5.0, "a", True), 0.0),          # identical
    ((0.0, "a", True), (5.0, "a", True), 0.25),         # half the public range apart
    ((0.0, "a", True), (10.0, "b", False), 3.0),        # everything differs: 1 + 1 + 1
    ((None, "a", True), (None, "a", True), 0.0),        # both missing: equal
    ((None, "a", True), (5.0, "a", True), 1.0),         # missing against mid-range: the null indicator only
    ((None, "a", True), (10.0, "a", True), 1.25),       # missing against an extreme
    ((20.0, "a", True), (10.0, "a", True), 0.0),        # clipped into the public bounds
])
def test_squared_distance_is_gower_like_on_the_public_bounds(a, b, squared):
    encoder = MixedEncoder(SCHEMA, {"c": ["a", "b", "c"], "flag": ["False", "True"]})
    left, right = encoder.encode(_frame(*[[v] for v in a])), encoder.encode(_frame(*[[v] for v in b]))
    assert nearest(left, right).squared[0, 0] == pytest.approx(squared)
    assert encoder.columns == ["x", "c", "flag"]  # free text has no domain and no place in the metric


def test_nearest_finds_the_k_smallest_and_counts_ties():
    candidates = np.array([[0.0], [1.0], [1.0], [3.0]])
    found = nearest(np.array([[1.0], [2.9]]), candidates, k=2)
    np.testing.assert_allclose(found.squared, [[0.0, 0.0], [0.01, 3.61]])
    assert found.ties.tolist() == [2, 1]
    assert nearest_index(np.array([[2.9], [0.2]]), candidates).tolist() == [3, 0]


def test_row_keys_match_equal_rows_only():
    encoder = MixedEncoder.for_release(SCHEMA, _frame([1.0], ["a"], [True]))
    keys = row_keys(_frame([1.0, 1.0, None, None, 1.0], ["a", "a", "b", "b", "b"], [True, True, False, False, True]),
                    encoder)
    assert keys[0] == keys[1] and keys[2] == keys[3]
    assert len({keys[0], keys[2], keys[4]}) == 3


def test_ties_split_in_proportion_to_the_tied_records():
    to_train = Neighbours(squared=np.array([[0.0], [0.0], [0.5]]), ties=np.array([3, 1, 1]))
    to_holdout = Neighbours(squared=np.array([[0.0], [0.2], [0.1]]), ties=np.array([1, 1, 1]))
    np.testing.assert_allclose(share_closer_to_train(to_train, to_holdout), [0.75, 1.0, 0.0])


@pytest.mark.parametrize(("share", "p0", "expected"), [(0.8, 0.8, 0.5), (1.0, 0.8, 1.0), (0.0, 0.8, 0.0),
                                                       (0.5, 0.5, 0.5), (0.9, 0.75, 0.75)])
def test_equal_size_share(share, p0, expected):
    assert equal_size_share(share, p0) == pytest.approx(expected)


def test_nndr_of_a_unique_copy_is_zero_and_of_duplicates_one():
    ratios = nndr(Neighbours(squared=np.array([[0.0, 4.0], [0.0, 0.0], [1.0, 4.0]]), ties=np.array([1, 2, 1])))
    np.testing.assert_allclose(ratios, [0.0, 1.0, 0.5])


def _dcr(synthetic, train, holdout, schema, seed=0):
    encoder = MixedEncoder.for_release(schema, synthetic)
    return distance_to_closest_record(synthetic, train, holdout, encoder, synthetic_sample=800, holdout_sample=400,
                                      confidence=0.95, rng=np.random.default_rng(seed))


def test_a_copy_scores_one_and_exact_matches_everywhere(real_tables, eval_schema):
    train, holdout = real_tables
    result = _dcr(train, train, holdout, eval_schema)
    assert result["dcr_share"]["p0"] == pytest.approx(0.8)
    assert result["dcr_share"]["share_at_equal_sizes"] > 0.98
    assert result["exact_matches"] == {"synthetic_rate": 1.0, "holdout_rate": 0.0, "excess_rate": 1.0}
    assert result["near_matches"]["synthetic_rate"] == 1.0
    assert result["nndr"]["synthetic_mean"] < 0.01 < result["nndr"]["holdout_mean"]


@pytest.mark.parametrize("source", ["population", "uniform"])
def test_fresh_rows_and_noise_score_one_half(source, real_tables, eval_schema, draw):
    train, holdout = real_tables
    rng = np.random.default_rng(17)
    synthetic = draw["population"](1600, rng) if source == "population" else draw["uniform"](eval_schema, 1600, rng)
    result = _dcr(synthetic, train, holdout, eval_schema)
    low, high = result["dcr_share"]["confidence_interval"]
    assert low < 0.5 < high
    assert result["exact_matches"]["excess_rate"] <= 0.0 + 1e-12


def test_the_tie_rule_keeps_the_null_at_one_half_on_a_table_of_duplicates():
    """Three binary columns: every synthetic row ties with many real rows. Counting a tie as 1/2 would give
    s = 0.5 and s* = 0.2 here; splitting it in proportion gives s = p0 and s* = 0.5."""
    schema = {name: CategoricalColumn(type="categorical", categories=("0", "1")) for name in ("a", "b", "c")}
    rng = np.random.default_rng(3)

    def draw(rows):
        return pd.DataFrame({name: pd.Categorical(rng.choice(["0", "1"], rows, p=[0.7, 0.3]), categories=["0", "1"])
                             for name in schema})

    result = _dcr(draw(800), draw(1600), draw(400), schema)
    assert result["dcr_share"]["share_at_equal_sizes"] == pytest.approx(0.5, abs=0.03)
    assert result["exact_matches"]["excess_rate"] == pytest.approx(0.0, abs=0.02)
