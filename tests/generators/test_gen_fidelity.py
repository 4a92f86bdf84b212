"""Marginal TVD and TSTR/TRTR on tables with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import TypeAdapter

from synth_pipeline.evaluate.fidelity import discretize, marginal_tvd, marginal_tvds
from synth_pipeline.evaluate.utility import tstr
from synth_pipeline.spec.schema import ColumnSpec

COLUMN = TypeAdapter(ColumnSpec)
SCHEMA = {
    "x": COLUMN.validate_python({"type": "float", "min": 0, "max": 16, "nullable": True}),
    "colour": COLUMN.validate_python({"type": "categorical", "categories": ["red", "blue"]}),
    "flag": COLUMN.validate_python({"type": "boolean"}),
    "note": COLUMN.validate_python({"type": "string", "nullable": True}),
}


def frame(x, colour, flag) -> pd.DataFrame:
    return pd.DataFrame({"x": pd.array(x, dtype="Float64"), "colour": pd.Categorical(colour, categories=["red", "blue"]),
                         "flag": pd.array(flag, dtype="boolean"), "note": pd.array(["n"] * len(x), dtype="string")})


def test_identical_tables_are_at_distance_zero_and_disjoint_at_one():
    a = frame([0.5, 3.5, None], ["red", "red", "red"], [True, True, True])
    assert marginal_tvd(a, a, SCHEMA, ways=2) == 0.0
    b = frame([15.5, 15.5, 15.5], ["blue", "blue", "blue"], [False, False, False])
    assert marginal_tvd(a, b, SCHEMA, ways=1) == pytest.approx(1.0)


def test_known_one_way_distances():
    real = frame([0.5, 0.5, 8.5, 8.5], ["red"] * 4, [True] * 4)
    synthetic = frame([0.5, 8.5, 8.5, 8.5], ["red", "red", "blue", "blue"], [True] * 4)
    tvds = marginal_tvds(real, synthetic, SCHEMA, ways=1)
    assert tvds == {("x",): pytest.approx(0.25), ("colour",): pytest.approx(0.5), ("flag",): 0.0}  # no string column
    assert marginal_tvd(real, synthetic, SCHEMA, ways=1) == pytest.approx(0.25)


def test_numeric_bins_lie_on_the_public_bounds_not_the_data():
    # 16 equal-width bins on [0, 16]: 0.2 and 0.9 share bin 0 though the data span only [0.2, 0.9].
    _, real, _, sizes = discretize(frame([0.2, 0.9], ["red"] * 2, [True] * 2), frame([0.2], ["red"], [True]), SCHEMA, bins=16)
    assert real[:, 0].tolist() == [0, 0] and sizes[0] == 18  # 16 bins, (other) and null


def test_three_way_subsets_are_drawn_with_the_rng():
    rng = np.random.default_rng(0)
    schema = {f"c{i}": COLUMN.validate_python({"type": "integer", "min": 0, "max": 3}) for i in range(6)}
    table = pd.DataFrame({name: pd.array(rng.integers(0, 4, 50), dtype="Int64") for name in schema})
    first = marginal_tvds(table, table.sample(frac=1, random_state=1), schema, ways=3, max_sets=5,
                          rng=np.random.default_rng(7))
    again = marginal_tvds(table, table.sample(frac=1, random_state=1), schema, ways=3, max_sets=5,
                          rng=np.random.default_rng(7))
    assert len(first) == 5 and first.keys() == again.keys()
    with pytest.raises(ValueError, match="rng"):
        marginal_tvds(table, table, schema, ways=3, max_sets=5)


@pytest.mark.parametrize("ways", [1, 2, 3])
def test_a_grid_cut_once_gives_every_order_the_same_figures(ways):
    real = frame([0.5, 3.5, None, 9.0, 15.5], ["red", "blue", "red", "red", "blue"], [True, False, True, True, False])
    synthetic = frame([0.5, 8.5, 8.5, None], ["red", "red", "blue", "blue"], [True, False, False, True])
    grid = discretize(real, synthetic, SCHEMA, bins=16)
    assert marginal_tvds(real, synthetic, SCHEMA, ways=ways, grid=grid) == marginal_tvds(real, synthetic, SCHEMA,
                                                                                         ways=ways)


def test_a_floor_is_measured_on_the_same_sets_and_a_fresh_sample_sits_at_it():
    """The holdout's TVDs on exactly the marginals the synthetic table was scored on: real data's own distance."""
    rng = np.random.default_rng(2)
    schema = {f"c{i}": COLUMN.validate_python({"type": "integer", "min": 0, "max": 3}) for i in range(6)}

    def sample(rows: int) -> pd.DataFrame:
        return pd.DataFrame({name: pd.array(rng.integers(0, 4, rows), dtype="Int64") for name in schema})

    train, holdout, fresh, skewed = sample(4_000), sample(1_000), sample(4_000), sample(4_000).clip(upper=1)
    scored = marginal_tvds(train, fresh, schema, ways=3, max_sets=7, rng=np.random.default_rng(3))
    floor = marginal_tvds(train, holdout, schema, ways=3, only=list(scored))
    assert floor.keys() == scored.keys() and all(value > 0 for value in floor.values())
    assert np.mean(list(scored.values())) < np.mean(list(floor.values()))  # 4,000 fresh rows: nearer than 1,000
    broken = marginal_tvds(train, skewed, schema, ways=3, only=list(scored))
    assert min(broken.values()) > 5 * max(floor.values())


def _labelled(n: int, rng: np.random.Generator, *, shuffle: bool = False) -> pd.DataFrame:
    x = rng.uniform(0, 16, n)
    colour = np.where(rng.random(n) < 0.5, "red", "blue")
    label = (x + 4 * (colour == "red") + rng.normal(0, 1, n)) > 10
    return frame(x, colour, rng.permutation(label) if shuffle else label)


def test_tstr_is_near_the_ceiling_for_real_data_and_chance_for_noise():
    rng = np.random.default_rng(3)
    train, test = _labelled(800, rng), _labelled(800, rng)
    good = tstr(_labelled(800, rng), train, test, target="flag", schema=SCHEMA, rng=np.random.default_rng(0))
    assert good["metric"] == "auc" and good["trtr"] > 0.9 and abs(good["tstr"] - good["trtr"]) < 0.05
    noise = tstr(_labelled(800, rng, shuffle=True), train, test, target="flag", schema=SCHEMA,
                 rng=np.random.default_rng(0))
    assert abs(noise["tstr"] - 0.5) < 0.08


def test_tstr_regression_scores_r2_and_a_one_class_table_scores_chance():
    rng = np.random.default_rng(4)
    train, test = _labelled(600, rng), _labelled(600, rng)
    result = tstr(_labelled(600, rng), train, test, target="x", schema=SCHEMA, rng=np.random.default_rng(0))
    assert result["metric"] == "r2" and result["trtr"] > 0.3
    single = _labelled(300, rng)
    single["flag"] = pd.array([True] * len(single), dtype="boolean")
    assert tstr(single, train, test, target="flag", schema=SCHEMA, rng=np.random.default_rng(0))["tstr"] == 0.5


def test_a_small_integer_code_target_is_a_classification():
    rng = np.random.default_rng(5)
    schema = {**SCHEMA, "grade": COLUMN.validate_python({"type": "integer", "min": 0, "max": 4})}

    def graded(n: int) -> pd.DataFrame:
        table = _labelled(n, rng)
        table["grade"] = pd.array(np.clip(np.round(table["x"].to_numpy(dtype=float) / 4), 0, 4).astype(int),
                                  dtype="Int64")
        return table

    result = tstr(graded(600), graded(600), graded(600), target="grade", schema=schema, rng=np.random.default_rng(0))
    assert result["metric"] == "auc" and result["trtr"] > 0.9  # macro one-vs-rest over the five grades
