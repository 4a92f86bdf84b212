"""DP cut points (`estimate_bin_edges`): quantile bins paid from privacy.estimation, atoms left to their own codes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from synth_pipeline.domain import build_domain
from synth_pipeline.privacy.estimation import estimate_domain, plan_estimation
from synth_pipeline.spec import NumericColumn
from synth_pipeline.steps.budget import _largest_domain


def numeric(**fields) -> NumericColumn:
    return NumericColumn.model_validate({"type": "float", "min": 0.0, "max": 1000.0, **fields})


def _skewed(rows: int, rng: np.random.Generator) -> np.ndarray:
    """Zero-inflated and heavy-tailed: 70% zeros, the rest lognormal (median about 20, a tail to 1000)."""
    return np.where(rng.random(rows) < 0.7, 0.0, rng.lognormal(3.0, 1.0, rows).clip(0, 1000))


@pytest.mark.parametrize("seed", range(5))
def test_cut_points_follow_the_quantiles_of_the_values_other_than_the_atoms(seed):
    rng = np.random.default_rng(seed)
    data = _skewed(20_000, rng)
    schema = {"x": numeric(atoms=[0], estimate_bin_edges=4)}
    domain, report = estimate_domain(pd.DataFrame({"x": data}), schema, epsilon=4.0, delta=0.0, max_rows_per_unit=1,
                                     rng=rng)
    edges = domain["x"].bin_edges
    assert edges[0] == 0 and edges[-1] == 1000 and not domain["x"].needs_estimation
    true_cuts = np.quantile(data[data > 0], [0.25, 0.5, 0.75])
    assert np.allclose(edges[1:-1], true_cuts, rtol=0.15)  # equal widths would cut at 250, 500, 750
    codes = build_domain(domain, numeric_bins=16).encode(pd.DataFrame({"x": pd.array(data, dtype="Float64")}))[:, 0]
    shares = np.bincount(codes, minlength=5)[1:] / (data > 0).sum()
    assert np.allclose(shares, 0.25, atol=0.05)  # each bin holds about a quarter of the non-zero values
    described = report.to_dict()["columns"]["x"]
    assert described["bin_edges"] == list(edges) and described["epsilon"] == 4.0
    assert "min" not in described  # the bounds were declared, not estimated


def test_integer_cut_points_are_whole_and_distinct_and_bounds_and_cuts_share_the_column_budget():
    rng = np.random.default_rng(9)
    values = pd.array(np.concatenate([rng.integers(18, 30, 5_000), rng.integers(30, 90, 1_000)]), dtype="Int64")
    schema = {"age": NumericColumn.model_validate({"type": "integer", "min": 0, "max": 150, "estimate_bounds": True,
                                                   "estimate_bin_edges": 8})}
    assert plan_estimation(schema, epsilon=1.0, delta=0.0)["age"].epsilon == 1.0  # one column: the whole budget
    domain, _ = estimate_domain(pd.DataFrame({"age": values}), schema, epsilon=1.0, delta=0.0, max_rows_per_unit=1,
                                rng=rng)
    edges = domain["age"].bin_edges
    assert all(edge == int(edge) for edge in edges) and list(edges) == sorted(set(edges))
    assert 15 <= edges[0] <= 20 and 80 <= edges[-1] <= 92  # the DP 1st and 99th percentiles
    assert build_domain(domain, numeric_bins=16).sizes[0] == len(edges) - 1


def test_the_pre_flight_sizes_the_domain_at_its_largest():
    schema = {"x": numeric(estimate_bin_edges=12), "n": NumericColumn.model_validate(
        {"type": "integer", "min": 0, "max": 5, "estimate_bin_edges": 10})}
    sizes = build_domain(_largest_domain(schema), numeric_bins=100).sizes
    assert sizes == (12, 5)  # 12 bins; an integer 0..5 gets at most 4 inner whole-number cuts: 5 bins


@pytest.mark.parametrize(("column", "message"), [
    ({"estimate_bin_edges": 1}, "greater than or equal to 2"),
    ({"estimate_bin_edges": 65}, "less than or equal to 64"),
    ({"estimate_bin_edges": 4, "bin_edges": [0, 10, 1000]}, "keep one"),
    ({"estimate_bin_edges": 4, "values": [0, 1]}, "cannot go with atoms, bin_edges, estimate_bounds or estimate_bin"),
])
def test_bad_cut_point_requests_are_refused_at_load(column, message):
    with pytest.raises(ValidationError, match=message):
        numeric(**column)
