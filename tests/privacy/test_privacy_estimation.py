"""DP domain estimation: the mechanisms' distributions, their accuracy, suppression of rare levels, the bookkeeping."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from synth_pipeline.domain import build_domain
from synth_pipeline.errors import PrivacyConfigError
from synth_pipeline.pii.output import generalized_column
from synth_pipeline.privacy.estimation import (
    BOUND_QUANTILES,
    dp_quantile,
    dp_released_levels,
    estimate_domain,
    histogram_threshold,
    plan_estimation,
)
from synth_pipeline.spec import BooleanColumn, CategoricalColumn, Generalization, NumericColumn, StringColumn

OUTER = {"type": "float", "min": 0.0, "max": 200.0, "estimate_bounds": True}


def numeric(**overrides) -> NumericColumn:
    return NumericColumn.model_validate({**OUTER, **overrides})


def categorical(**overrides) -> CategoricalColumn:
    return CategoricalColumn.model_validate({"type": "categorical", **overrides})


def test_the_quantile_mechanism_draws_gaps_with_the_exponential_mechanism_weights():
    """Values 1, 1.5, 3.5 in [0, 4], median, epsilon 1: gap i has weight width_i * exp(-|i - 1.5| / 2)."""
    values, epsilon, widths = np.array([3.5, 1.0, 1.5]), 1.0, [1.0, 0.5, 2.0, 0.5]
    weights = np.array([widths[i] * math.exp(-epsilon * abs(i - 1.5) / 2) for i in range(4)])
    expected = weights / weights.sum()
    rng = np.random.default_rng(11)
    draws = np.array([dp_quantile(values, q=0.5, low=0.0, high=4.0, epsilon=epsilon, sensitivity=1, rng=rng)
                      for _ in range(20000)])
    observed = np.histogram(draws, bins=[0, 1, 1.5, 3.5, 4])[0] / draws.size
    sd = np.sqrt(expected * (1 - expected) / draws.size)
    assert np.all(np.abs(observed - expected) < 5 * sd), (observed, expected)
    assert draws.min() >= 0.0 and draws.max() <= 4.0


def test_sensitivity_scales_the_noise_like_a_smaller_epsilon():
    values = np.random.default_rng(0).normal(size=500)
    for seed in range(5):
        per_row = dp_quantile(values, q=0.9, low=-10, high=10, epsilon=0.5, sensitivity=1, rng=np.random.default_rng(seed))
        per_person = dp_quantile(values, q=0.9, low=-10, high=10, epsilon=1.5, sensitivity=3,
                                 rng=np.random.default_rng(seed))
        assert per_row == per_person


@pytest.mark.parametrize("seed", range(10))
def test_estimated_bounds_land_near_the_true_quantiles_at_large_epsilon(seed):
    data = np.random.default_rng(100 + seed).normal(50, 10, size=20000)
    table = pd.DataFrame({"x": data})
    domain, report = estimate_domain(table, {"x": numeric()}, epsilon=10.0, delta=0.0, max_rows_per_unit=1,
                                     rng=np.random.default_rng(seed))
    low, high = np.quantile(data, BOUND_QUANTILES)
    assert abs(domain["x"].min - low) < 0.5 and abs(domain["x"].max - high) < 0.5
    assert report.to_dict()["columns"]["x"]["min"] == domain["x"].min


def test_bounds_stay_inside_the_public_range_whatever_the_data():
    """Values far outside the outer range (and a tiny epsilon) never widen it: the range is public, the data not."""
    data = np.concatenate([np.full(50, -1e9), np.random.default_rng(0).uniform(10, 20, size=100), np.full(50, 1e9)])
    for seed in range(50):
        domain, _ = estimate_domain(pd.DataFrame({"x": data}), {"x": numeric(min=0.0, max=100.0)}, epsilon=0.01,
                                    delta=0.0, max_rows_per_unit=1, rng=np.random.default_rng(seed))
        assert 0.0 <= domain["x"].min <= domain["x"].max <= 100.0


def test_integer_bounds_are_whole_numbers_and_nulls_are_ignored():
    values = pd.array(list(range(17, 91)) * 100 + [None] * 500, dtype="Int64")
    domain, _ = estimate_domain(pd.DataFrame({"age": values}), {"age": numeric(type="integer", min=0, max=150)},
                                epsilon=20.0, delta=0.0, max_rows_per_unit=1, rng=np.random.default_rng(0))
    assert domain["age"].min == math.floor(domain["age"].min) and domain["age"].max == math.floor(domain["age"].max)
    assert 16 <= domain["age"].min <= 19 and 88 <= domain["age"].max <= 91


def test_the_threshold_follows_its_formula():
    assert histogram_threshold(epsilon=1.0, delta=1e-6, max_rows_per_unit=1) == pytest.approx((1.0, 1 + math.log(5e5)))
    scale, tau = histogram_threshold(epsilon=0.5, delta=1e-6, max_rows_per_unit=3)
    assert (scale, tau) == pytest.approx((6.0, 3 + 6.0 * math.log(3 / 2e-6)))
    assert histogram_threshold(epsilon=1.0, delta=0.9, max_rows_per_unit=1)[1] == 1.0  # never below m


@pytest.mark.parametrize("count, m, epsilon, delta", [(5, 1, 1.0, 1e-3), (9, 2, 1.0, 1e-3), (3, 3, 2.0, 0.03)])
def test_a_level_is_released_with_the_laplace_tail_probability(count, m, epsilon, delta):
    """P[c + Lap(b) > tau] = exp(-(tau - c) / b) / 2 for c below the threshold, measured on 200,000 levels."""
    scale, tau = histogram_threshold(epsilon=epsilon, delta=delta, max_rows_per_unit=m)
    trials = 200_000
    released, _ = dp_released_levels(np.full(trials, float(count)), epsilon=epsilon, delta=delta,
                                     max_rows_per_unit=m, rng=np.random.default_rng(count))
    expected = math.exp(-(tau - count) / scale) / 2
    sd = math.sqrt(expected * (1 - expected) / trials)
    assert abs(released.mean() - expected) < 5 * sd, (released.mean(), expected)
    if count == m:  # one individual's whole contribution: at most delta / m per level
        assert expected == pytest.approx(delta / m)


def test_a_level_held_by_one_individual_is_never_released():
    released, _ = dp_released_levels(np.ones(1_000_000), epsilon=1.0, delta=1e-9, max_rows_per_unit=1,
                                     rng=np.random.default_rng(0))
    assert not released.any()
    released, _ = dp_released_levels(np.full(1_000_000, 4.0), epsilon=1.0, delta=1e-9, max_rows_per_unit=4,
                                     rng=np.random.default_rng(1))
    assert not released.any()


def _levels_table() -> pd.DataFrame:
    common = [f"level_{i:02d}" for i in range(30) for _ in range(400)]
    rare = ["CANARY-rare-level-7319", "rare_b", "rare_c"]
    return pd.DataFrame({"kind": common + rare + [None] * 20})


def test_estimated_categories_keep_common_levels_and_never_rare_ones():
    table = _levels_table()
    for seed in range(100):
        domain, report = estimate_domain(table, {"kind": categorical(nullable=True)}, epsilon=1.0, delta=1e-6,
                                         max_rows_per_unit=1, rng=np.random.default_rng(seed))
        assert domain["kind"].categories == tuple(f"level_{i:02d}" for i in range(30))
        assert report.to_dict()["columns"]["kind"]["categories"] == 30
    assert "CANARY" not in json.dumps(report.to_dict()) + repr(domain)


def test_max_categories_keeps_the_largest_noisy_counts():
    table = pd.DataFrame({"kind": [f"big_{i}" for i in range(3) for _ in range(5000)]
                                  + [f"small_{i}" for i in range(5) for _ in range(500)]})
    domain, report = estimate_domain(table, {"kind": categorical(max_categories=3)}, epsilon=1.0, delta=1e-6,
                                     max_rows_per_unit=1, rng=np.random.default_rng(0))
    assert domain["kind"].categories == ("big_0", "big_1", "big_2")
    assert report.to_dict()["columns"]["kind"]["levels_over_max_categories"] == 5


def test_no_releasable_level_is_a_clear_error():
    with pytest.raises(PrivacyConfigError, match=r"schema.kind: no level is held by enough individuals"):
        estimate_domain(pd.DataFrame({"kind": ["a", "b", "c"]}), {"kind": categorical()}, epsilon=1.0, delta=1e-6,
                        max_rows_per_unit=1, rng=np.random.default_rng(0))


ESTIMATED_LEVELS = {
    "declared without categories": categorical(),
    "ZIP prefix generalized without a list": generalized_column(StringColumn(type="string"),
                                                                Generalization(zip_prefix=3)),
    # Built around validation (which refuses this): estimation must not depend on the spec having caught it.
    "rejecting, bypassing validation": CategoricalColumn.model_construct(
        type="categorical", categories=None, max_categories=100, out_of_domain="reject", nullable=False,
        description=""),
}


@pytest.mark.parametrize("rare_people", [0, 1, 7])
@pytest.mark.parametrize("column", list(ESTIMATED_LEVELS))
def test_rows_in_levels_too_rare_to_release_become_null_however_many_people_hold_them(column, rare_people):
    """Whether training succeeds must not depend on whether anyone holds a rare level (the review's finding 3):
    0, 1 or 7 people in a suppressed level all encode, their rows as null, and the outcome is the same."""
    values = ["680"] * 300 + ["681"] * 200 + ["CANARY-693"] * rare_people
    table = pd.DataFrame({"zip": pd.array(values, dtype="string")})
    domain, _ = estimate_domain(table, {"zip": ESTIMATED_LEVELS[column]}, epsilon=1.0, delta=1e-6,
                                max_rows_per_unit=1, rng=np.random.default_rng(0))
    estimated = domain["zip"]
    assert (estimated.categories, estimated.nullable, estimated.out_of_domain) == (("680", "681"), True, "null")
    codec = build_domain(domain, numeric_bins=16)
    codes = codec.encode(table)[:, 0]
    null_code = codec.columns[0].null_code
    assert codes.tolist() == [0] * 300 + [1] * 200 + [null_code] * rare_people


def test_estimated_columns_become_ordinary_declared_columns():
    table = pd.DataFrame({"x": np.random.default_rng(0).uniform(0, 100, 5000), "kind": ["a", "b"] * 2500,
                          "flag": [True, False] * 2500})
    schema = {"x": numeric(out_of_domain="reject"), "kind": categorical(), "flag": BooleanColumn(type="boolean")}
    domain, _ = estimate_domain(table, schema, epsilon=2.0, delta=1e-6, max_rows_per_unit=1,
                                rng=np.random.default_rng(0))
    assert not any(column.needs_estimation for column in domain.values())
    assert domain["x"].out_of_domain == "clip" and domain["x"].estimate_bounds is False
    assert domain["kind"].categories == ("a", "b") and domain["flag"] is schema["flag"]


BOOKKEEPING = [
    # (numeric columns, categorical columns, epsilon, delta)
    (1, 0, 1.0, 0.0),
    (2, 1, 1.0, 1e-6),
    (0, 3, 0.7, 1e-6),
    (4, 3, 0.3, 3e-7),
    (6, 1, 1 / 3, 1e-5),
]


@pytest.mark.parametrize("numerics, categoricals, epsilon, delta", BOOKKEEPING)
def test_the_spend_is_split_evenly_and_never_exceeds_the_budget(numerics, categoricals, epsilon, delta):
    rng = np.random.default_rng(0)
    columns = {f"n{i}": rng.uniform(0, 100, 3000) for i in range(numerics)}
    columns |= {f"c{i}": np.array(["a", "b", "c"])[rng.integers(0, 3, 3000)] for i in range(categoricals)}
    schema = {name: numeric() if name.startswith("n") else categorical() for name in columns}
    _, report = estimate_domain(pd.DataFrame(columns), schema, epsilon=epsilon, delta=delta, max_rows_per_unit=1,
                                rng=rng)
    spent = report.to_dict()
    assert spent["composition"] == "basic"
    assert report.epsilon_spent <= epsilon and report.epsilon_spent == pytest.approx(epsilon, rel=1e-12)
    assert report.delta_spent <= delta and report.delta_spent == pytest.approx(delta if categoricals else 0.0, rel=1e-12)
    shares = {c.column: (c.epsilon, c.delta) for c in report.columns}
    assert len({epsilon_share for epsilon_share, _ in shares.values()}) == 1
    assert all(delta_share == 0.0 for name, (_, delta_share) in shares.items() if name.startswith("n"))
    assert spent["epsilon_spent"] == report.epsilon_spent


PLAN_REFUSALS = [
    ({"kind": categorical()}, 1.0, 0.0, "needs privacy.estimation.delta > 0"),
    ({"x": numeric()}, 0.0, 0.0, "finite epsilon > 0"),
    ({"x": numeric()}, float("nan"), 0.0, "finite epsilon > 0"),
    ({"x": numeric()}, 1.0, 1.0, "delta in"),
]


@pytest.mark.parametrize("schema, epsilon, delta, message", PLAN_REFUSALS)
def test_an_unusable_estimation_budget_is_refused_before_reading_data(schema, epsilon, delta, message):
    with pytest.raises(PrivacyConfigError, match=message):
        plan_estimation(schema, epsilon=epsilon, delta=delta)


def test_nothing_to_estimate_spends_nothing():
    schema = {"x": numeric(estimate_bounds=False)}
    assert plan_estimation(schema, epsilon=1.0, delta=0.0) == {}
    domain, report = estimate_domain(pd.DataFrame({"x": [1.0]}), schema, epsilon=1.0, delta=0.0, max_rows_per_unit=1,
                                     rng=np.random.default_rng(0))
    assert domain == schema and report.epsilon_spent == 0.0 and report.columns == ()


def test_inputs_that_cannot_be_estimated_are_refused():
    with pytest.raises(PrivacyConfigError, match="not in the table: x"):
        estimate_domain(pd.DataFrame({"y": [1.0]}), {"x": numeric()}, epsilon=1.0, delta=0.0, max_rows_per_unit=1,
                        rng=np.random.default_rng(0))
    with pytest.raises(PrivacyConfigError, match="max_rows_per_unit must be >= 1"):
        estimate_domain(pd.DataFrame({"x": [1.0]}), {"x": numeric()}, epsilon=1.0, delta=0.0, max_rows_per_unit=0,
                        rng=np.random.default_rng(0))
