"""AIM's workload: all `workload_ways` marginals, plus the target's `target_ways` marginals when a target is named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import TypeAdapter

from synth_pipeline.domain import build_domain
from synth_pipeline.errors import PrivacyConfigError
from synth_pipeline.generators import make_generator
from synth_pipeline.generators.aim_select import candidates_and_weights
from synth_pipeline.spec.schema import ColumnSpec


def test_without_a_target_the_workload_is_every_pair():
    weights = candidates_and_weights(4, 2)
    assert max(len(r) for r in weights) == 2 and len([r for r in weights if len(r) == 2]) == 6
    assert weights[(0,)] == 3  # each column is in 3 of the 6 pairs


@pytest.mark.parametrize(("target", "triples"), [(0, {(0, 1, 2), (0, 1, 3), (0, 2, 3)}), (3, {(0, 1, 3), (0, 2, 3),
                                                                                              (1, 2, 3)})])
def test_a_target_adds_its_three_way_marginals_and_their_weight(target, triples):
    weights = candidates_and_weights(4, 2, target=target, target_ways=3)
    assert {r for r in weights if len(r) == 3} == triples
    plain = candidates_and_weights(4, 2)
    # The target's one-way weight grows the most: it is in every added triple.
    gains = {a: weights[(a,)] - plain[(a,)] for a in range(4)}
    assert max(gains, key=gains.get) == target and gains[target] == 3


def test_a_target_that_is_not_modelled_is_refused_before_any_fit():
    column = TypeAdapter(ColumnSpec).validate_python({"type": "integer", "min": 0, "max": 3})
    domain = build_domain({"a": column, "b": column}, numeric_bins=4)
    generator = make_generator("aim", {"target": "income", "rounds": 2})
    with pytest.raises(PrivacyConfigError, match="generator.params.target 'income' is not a modelled column"):
        generator.check_feasible(domain, min_units=1000, epsilon=1.0, delta=1e-6)
    fitted = make_generator("aim", {"target": "b", "rounds": 4, "iterations": 5, "final_iterations": 5})
    table = pd.DataFrame({"a": pd.array([0, 1, 2, 3] * 50, dtype="Int64"), "b": pd.array([1, 2] * 100, dtype="Int64")})
    model = fitted.fit(table, domain, epsilon=1.0, delta=1e-6, units=None, rng=np.random.default_rng(0))
    assert model.privacy["epsilon"] <= 1.0
