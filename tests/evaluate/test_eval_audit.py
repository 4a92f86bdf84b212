"""Canary audit: canaries from the public domain, the one-run epsilon lower bound, and the whole loop on a
non-private "generator" (a copy) against independent noise."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from synth_pipeline.errors import ConfigError
from synth_pipeline.evaluate.audit import (
    GUESS_FRACTIONS,
    audit_epsilon_lower_bound,
    canary_scores,
    draw_inclusion,
    epsilon_lower_bound,
    make_canaries,
    p_value,
    plant_canaries,
)
from synth_pipeline.evaluate.encoding import MixedEncoder
from synth_pipeline.evaluate.validation import check_schema
from synth_pipeline.spec.schema import CategoricalColumn


def test_canaries_lie_in_the_public_domain_and_its_outer_tenths(eval_schema):
    canaries = make_canaries(eval_schema, count=200, rng=np.random.default_rng(0))
    assert len(canaries) == 200 and list(canaries.columns) == list(eval_schema)
    assert all(outcome.passed for outcome in check_schema(canaries, eval_schema))
    age = canaries["age"].to_numpy(dtype=float)
    assert np.all((age <= 18 + 7.2) | (age >= 90 - 7.2))
    assert canaries.notna().all().all()


def test_canaries_need_declared_categories():
    with pytest.raises(ConfigError, match="schema.kind"):
        make_canaries({"kind": CategoricalColumn(type="categorical", max_categories=5)}, count=10,
                      rng=np.random.default_rng(0))


def test_inclusion_is_a_fair_coin_and_planting_keeps_the_original(real_tables, eval_schema):
    included = draw_inclusion(10_000, rng=np.random.default_rng(1))
    assert abs(included.mean() - 0.5) < 0.02
    train, _ = real_tables
    canaries = make_canaries(eval_schema, count=20, rng=np.random.default_rng(2))
    chosen = draw_inclusion(20, rng=np.random.default_rng(3))
    planted = plant_canaries(train, canaries, chosen)
    assert len(planted) == len(train) + chosen.sum() and len(train) == 1600
    assert (planted.dtypes == train.dtypes).all()


@pytest.mark.parametrize(("guesses", "correct", "epsilon"), [(10, 7, 0.0), (100, 60, 0.5), (30, 30, 2.0)])
def test_p_value_without_delta_is_the_binomial_tail(guesses, correct, epsilon):
    q = 1 / (1 + math.exp(-epsilon))
    expected = binom.sf(correct - 1, guesses, q)
    assert p_value(canaries=guesses, guesses=guesses, correct=correct, epsilon=epsilon, delta=0.0) == pytest.approx(expected)


def test_delta_only_raises_the_p_value():
    base = p_value(canaries=1000, guesses=200, correct=150, epsilon=1.0, delta=0.0)
    assert p_value(canaries=1000, guesses=200, correct=150, epsilon=1.0, delta=1e-5) > base


def test_the_bound_when_every_guess_is_right():
    # P[Binomial(r, q) >= r] = q^r: the bound solves q^r = significance, epsilon = log(q / (1 - q)).
    q = 0.01 ** (1 / 100)
    assert epsilon_lower_bound(canaries=100, guesses=100, correct=100, delta=0.0,
                               significance=0.01) == pytest.approx(math.log(q / (1 - q)), rel=1e-6)
    assert epsilon_lower_bound(canaries=100, guesses=100, correct=50, delta=0.0, significance=0.01) == 0.0


def test_audit_of_perfect_and_useless_scores():
    m = 1000
    perfect = audit_epsilon_lower_bound(np.ones(m // 2), np.zeros(m // 2), delta=0.0, confidence=0.95,
                                        rng=np.random.default_rng(0))
    q = (0.05 / len(GUESS_FRACTIONS)) ** (1 / m)
    assert perfect.epsilon_lower_bound == pytest.approx(math.log(q / (1 - q)), rel=1e-6)
    assert perfect.guesses == m and perfect.correct == m
    rng = np.random.default_rng(4)
    useless = audit_epsilon_lower_bound(rng.normal(size=m // 2), rng.normal(size=m // 2), delta=1e-5, confidence=0.95,
                                        rng=rng)
    assert useless.epsilon_lower_bound < 0.3


def _membership_blind(kind: str, m: int, rng: np.random.Generator) -> np.ndarray:
    """Scores that carry nothing about membership, with many ties (discrete distances on categorical tables)."""
    if kind == "all equal":
        return np.full(m, -1.0)
    if kind == "3 values":
        return rng.choice([-2.0, -1.0, 0.0], size=m)
    return -rng.integers(0, 2, size=m).astype(float)  # "2 values, mostly one"


# (scores independent of membership, canaries). The old stable sort put included canaries first among ties: all-equal
# scores then read as epsilon >= 5.3 with every guess "right", and 3 values as 3.7.
TIES = [("all equal", 1000), ("3 values", 1000), ("2 values, mostly one", 1000), ("all equal", 200)]


@pytest.mark.parametrize("kind, m", TIES, ids=[f"{kind}, m={m}" for kind, m in TIES])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ties_are_broken_at_random_not_in_favour_of_the_truth(kind, m, seed):
    rng = np.random.default_rng(seed)
    included = draw_inclusion(m, rng=rng)
    scores = _membership_blind(kind, m, rng)
    bound = audit_epsilon_lower_bound(scores[included], scores[~included], delta=1e-5, confidence=0.95, rng=rng)
    assert bound.epsilon_lower_bound < 0.3
    if bound.guesses:
        assert bound.correct < bound.guesses  # a blind guesser is not right every time


def test_tie_breaking_draws_from_the_rng_passed_in():
    bounds = [audit_epsilon_lower_bound(np.zeros(300), np.zeros(300), delta=1e-5, confidence=0.95,
                                        rng=np.random.default_rng(5)) for _ in range(2)]
    assert bounds[0] == bounds[1]


def _audit(generator, real_tables, eval_schema, draw):
    train, _ = real_tables
    rng = np.random.default_rng(7)
    canaries = make_canaries(eval_schema, count=200, rng=rng)
    included = draw_inclusion(len(canaries), rng=rng)
    synthetic = generator(plant_canaries(train, canaries, included), rng)
    scores = canary_scores(canaries, synthetic, MixedEncoder.for_release(eval_schema, synthetic))
    return audit_epsilon_lower_bound(scores[included], scores[~included], delta=1e-5, confidence=0.95, rng=rng)


def test_a_copying_generator_is_caught_and_noise_is_not(real_tables, eval_schema, draw):
    copying = _audit(lambda table, rng: table.sample(frac=1.0, random_state=0), real_tables, eval_schema, draw)
    noise = _audit(lambda table, rng: draw["uniform"](eval_schema, len(table), rng), real_tables, eval_schema, draw)
    assert copying.epsilon_lower_bound > 2.0  # far above a claimed epsilon of 1: the audit would flag it
    assert noise.epsilon_lower_bound < 0.5
    assert copying.to_dict()["canaries"] == 200 and copying.guesses <= 200
