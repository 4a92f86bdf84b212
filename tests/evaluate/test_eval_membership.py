"""Membership inference: AUC, held-out advantage, the DP bound, and the attacks on copies and noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synth_pipeline.evaluate.encoding import MixedEncoder
from synth_pipeline.evaluate.membership import (
    advantage_bound,
    auc,
    auc_interval,
    held_out_advantage,
    membership_inference,
)


@pytest.mark.parametrize(("epsilon", "delta", "bound"), [
    (math.log(3), 0.0, 0.5),            # (3 - 1) / (3 + 1)
    (0.0, 0.0, 0.0),                    # no information at all
    (0.0, 0.01, 0.01),                  # 2 delta / 2
    (1.0, 1e-5, (math.e - 1 + 2e-5) / (math.e + 1)),
    (50.0, 0.0, 1.0),
])
def test_advantage_bound(epsilon, delta, bound):
    assert advantage_bound(epsilon=epsilon, delta=delta) == pytest.approx(bound)


@pytest.mark.parametrize(("members", "non_members", "expected"), [
    ([3, 4], [1, 2], 1.0),
    ([1, 2], [3, 4], 0.0),
    ([1, 3], [2, 2], 0.5),   # pairs: (1,2) 0, (1,2) 0, (3,2) 1, (3,2) 1
    ([2], [2], 0.5),         # a tie counts one half
    ([2, 5], [1, 2, 3], 4.5 / 6),
])
def test_auc_is_the_mann_whitney_statistic(members, non_members, expected):
    assert auc(np.array(members, float), np.array(non_members, float)) == pytest.approx(expected)


def test_auc_interval_contains_the_value_and_narrows_with_size():
    small, large = auc_interval(0.7, 50, 50, 0.95), auc_interval(0.7, 5000, 5000, 0.95)
    assert small[0] < large[0] < 0.7 < large[1] < small[1]


def test_held_out_advantage_of_a_perfect_and_a_useless_score():
    rng = np.random.default_rng(0)
    assert held_out_advantage(np.arange(100.0, 200.0), np.arange(100.0), rng=rng) == pytest.approx(1.0, abs=0.02)
    chance = held_out_advantage(rng.normal(size=2000), rng.normal(size=2000), rng=rng)
    assert abs(chance) < 0.06  # the maximum over thresholds on the same data would sit well above zero


def _attack(synthetic, train, holdout, schema, seed=0):
    encoder = MixedEncoder.for_release(schema, synthetic)
    return membership_inference(synthetic, train, holdout, encoder, targets=200, epsilon=1.0, delta=1e-5,
                                confidence=0.95, rng=np.random.default_rng(seed))


def test_a_copy_is_detected_beyond_the_dp_bound(real_tables, eval_schema):
    train, holdout = real_tables
    result = _attack(train, train, holdout, eval_schema)
    assert result["members"] == result["non_members"] == 200 and result["reference_rows"] == 200
    for attack in ("distance", "density_ratio"):
        assert result["attacks"][attack]["auc"] > 0.95
    assert result["advantage_lower_bound"] > result["dp_bound"] == pytest.approx(advantage_bound(epsilon=1.0, delta=1e-5))


@pytest.mark.parametrize("source", ["population", "uniform"])
def test_fresh_rows_and_noise_give_no_advantage(source, real_tables, eval_schema, draw):
    train, holdout = real_tables
    rng = np.random.default_rng(23)
    synthetic = draw["population"](1600, rng) if source == "population" else draw["uniform"](eval_schema, 1600, rng)
    result = _attack(synthetic, train, holdout, eval_schema)
    for attack in ("distance", "density_ratio"):
        low, high = result["attacks"][attack]["auc_interval"]
        assert low < 0.5 < high
    assert result["advantage"] < 0.1
