"""The automatic release decision: its epsilon pinned, its sensitivity argument checked on real TVDs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from synth_pipeline.evaluate.fidelity import marginal_tvds
from synth_pipeline.privacy.decision import GatedFigure, noisy_threshold_decision
from synth_pipeline.spec.schema import CategoricalColumn, NumericColumn


def _pass_probability(margin: float, epsilon: float) -> float:
    """P[margin + Laplace(1/epsilon) > 0], from the Laplace CDF."""
    return 1 - 0.5 * math.exp(-epsilon * margin) if margin >= 0 else 0.5 * math.exp(epsilon * margin)


@pytest.mark.parametrize("epsilon", [0.05, 0.1, 1.0])
def test_the_decision_is_epsilon_dp_in_its_margin(epsilon):
    """Neighbouring inputs move the smallest normalised margin by at most 1: the two outcomes' probabilities may
    then differ by a factor e^epsilon at most, and reach it (the bound is tight, so epsilon is pinned)."""
    ratios = []
    for margin in np.linspace(-20, 20, 801) / epsilon:
        for outcome in (True, False):
            p = _pass_probability(margin, epsilon)
            q = _pass_probability(margin + 1, epsilon)
            p, q = (p, q) if outcome else (1 - p, 1 - q)
            ratios.append(max(p / q, q / p))
    assert max(ratios) <= math.exp(epsilon) * (1 + 1e-6)  # 1 - p loses digits far out in the tail
    assert max(ratios) == pytest.approx(math.exp(epsilon), rel=1e-6)


@pytest.mark.parametrize(("value", "expected"), [(0.02, 0.9999), (0.1, 0.5), (0.15, 0.0)])
def test_the_verdict_follows_the_laplace_cdf(value, expected):
    figure = GatedFigure("tvd_1way", value, 0.1, "max", sensitivity=1 / 1000)
    rng = np.random.default_rng(7)
    passed = np.mean([noisy_threshold_decision([figure], epsilon=0.1, rng=rng).passed for _ in range(4000)])
    assert passed == pytest.approx(_pass_probability(figure.margin(), 0.1), abs=0.03)
    assert passed == pytest.approx(expected, abs=0.03)


DECISION_CASES = [
    # (figures, passes for sure, fails for sure)
    ([GatedFigure("a", 0.01, 0.1, "max", 1e-4), GatedFigure("b", 0.05, 0.15, "max", 1e-4)], True, False),
    ([GatedFigure("a", 0.01, 0.1, "max", 1e-4), GatedFigure("b", 0.5, 0.15, "max", 1e-4)], False, True),
    ([GatedFigure("ratio", 0.9, 0.8, "min", 1e-4)], True, False),
    ([GatedFigure("ratio", 0.5, 0.8, "min", 1e-4)], False, True),
    ([GatedFigure("a", None, 0.1, "max", 1e-4)], False, True),  # a figure that was not computed fails closed
    ([GatedFigure("a", float("nan"), 0.1, "max", 1e-4)], False, True),
    ([], False, True),  # nothing to decide on: nothing passes
]


@pytest.mark.parametrize(("figures", "passes", "fails"), DECISION_CASES)
def test_clear_cases(figures, passes, fails):
    rng = np.random.default_rng(0)
    verdicts = {noisy_threshold_decision(figures, epsilon=1.0, rng=rng).passed for _ in range(200)}
    assert verdicts == ({True} if passes else {False})


def test_the_public_record_holds_no_figure():
    decision = noisy_threshold_decision([GatedFigure("tvd_1way", 0.0321, 0.1, "max", 1 / 720)], epsilon=0.1,
                                        rng=np.random.default_rng(0))
    record = decision.to_dict()
    assert "0.0321" not in repr(record)
    assert record["epsilon"] == 0.1 and record["delta"] == 0.0 and record["noise_scale"] == 10.0
    assert record["gates"] == [{"name": "tvd_1way", "limit": 0.1, "direction": "max", "sensitivity": 1 / 720}]


@pytest.mark.parametrize(("bad", "epsilon"), [(1e-4, 0.0), (1e-4, math.inf), (0.0, 1.0), (math.inf, 1.0)])
def test_nonsense_parameters_are_refused(bad, epsilon):
    with pytest.raises(ValueError):
        noisy_threshold_decision([GatedFigure("a", 0.0, 0.1, "max", bad)], epsilon=epsilon,
                                 rng=np.random.default_rng(0))


SCHEMA = {"age": NumericColumn(type="integer", min=0, max=100),
          "colour": CategoricalColumn(type="categorical", categories=("red", "green", "blue"))}


def _table(n: int, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame({"age": rng.integers(0, 101, n), "colour": rng.choice(["red", "green", "blue"], n)})


@pytest.mark.parametrize(("rows", "floor", "person_rows"), [(500, 400, 1), (300, 400, 1), (400, 400, 1),
                                                            (399, 400, 3), (800, 400, 3), (50, 400, 2)])
@pytest.mark.parametrize("ways", [1, 2])
def test_the_gated_tvd_moves_by_at_most_max_rows_over_the_floor(rows, floor, person_rows, ways):
    """The sensitivity the decision states: adding one person's rows (above, at and below the floor) moves the
    mean TVD against the floor by at most person_rows / floor."""
    rng = np.random.default_rng(rows + floor + person_rows)
    real, synthetic = _table(rows, rng), _table(700, rng)
    for trial in range(20):
        person = _table(person_rows, rng)
        if trial % 2:  # all of a person's rows in one cell: the worst case for a histogram
            person = pd.concat([person.iloc[:1]] * person_rows, ignore_index=True)
        larger = pd.concat([real, person], ignore_index=True)
        before, after = (np.mean(list(marginal_tvds(table, synthetic, SCHEMA, ways=ways,
                                                    real_rows_floor=floor).values())) for table in (real, larger))
        assert abs(after - before) <= person_rows / floor + 1e-12


def test_above_the_floor_the_gated_tvd_is_the_plain_tvd():
    rng = np.random.default_rng(3)
    real, synthetic = _table(900, rng), _table(700, rng)
    assert marginal_tvds(real, synthetic, SCHEMA, ways=2, real_rows_floor=900) == marginal_tvds(real, synthetic,
                                                                                                 SCHEMA, ways=2)
