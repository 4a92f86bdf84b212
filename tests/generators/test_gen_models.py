"""Each generator on a slice of Adult: the schema of what it samples, determinism, the spend, state, privacy units.

Small hyper-parameters keep every fit to a second or two; the benchmark measures the real settings.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from synth_pipeline.errors import GeneratorError, PrivacyConfigError
from synth_pipeline.generators import make_generator
from synth_pipeline.generators.base import STATE_JSON, STATE_TENSORS, Individuals, load_model, save_model

# Real training of both generators (seconds per case): in `make test`, not in `make test-fast`.
pytestmark = pytest.mark.slow

SMALL = {
    "aim": {"numeric_bins": 16, "rounds": 8, "iterations": 10, "final_iterations": 20, "max_model_cells": 20_000,
            "workload_ways": 2},
    "dpsgd_autoregressive": {"numeric_bins": 16, "epochs": 2, "batch_size": 150, "hidden": 16, "embedding_dim": 4},
}
EPSILON, DELTA = 2.0, 1e-5


def fit(name: str, schema, table: pd.DataFrame, seed: int = 0, units: Individuals | None = None, **overrides):
    generator = make_generator(name, {**SMALL[name], **overrides})
    domain = generator.build_domain(schema)
    model = generator.fit(table, domain, epsilon=EPSILON, delta=DELTA, units=units, rng=np.random.default_rng(seed))
    return generator, domain, model


@pytest.fixture(scope="module", params=sorted(SMALL))
def fitted(request, adult_slice):
    schema, table = adult_slice
    return (request.param, schema, table, *fit(request.param, schema, table))


def test_samples_match_the_target_schema(fitted):
    name, schema, table, _, _, model = fitted
    synthetic = model.sample(400, np.random.default_rng(1))
    assert list(synthetic.columns) == list(table.columns) and len(synthetic) == 400
    assert list(synthetic.dtypes.astype(str)) == list(table.dtypes.astype(str))
    for column, spec in schema.items():
        values = synthetic[column].dropna()
        if spec.type in ("integer", "float"):
            assert values.between(spec.min, spec.max).all(), column
        elif spec.type == "categorical":
            assert list(synthetic[column].cat.categories) == list(spec.categories)
        if not spec.nullable:
            assert synthetic[column].notna().all(), column


def test_fit_spends_the_budget_and_no_more(fitted):
    _, _, table, _, _, model = fitted
    assert 0.99 * EPSILON < model.privacy["epsilon"] <= EPSILON
    assert model.privacy["delta"] == DELTA and model.privacy["charges"]
    assert abs(model.released_rows - len(table)) < 0.2 * len(table)  # a DP count, not the true one


def test_fit_and_sample_are_deterministic_given_the_seed(fitted):
    name, schema, table, _, _, model = fitted
    _, _, again = fit(name, schema, table, seed=0)
    _, _, other = fit(name, schema, table, seed=1)
    first = model.sample(300, np.random.default_rng(5))
    pd.testing.assert_frame_equal(first, again.sample(300, np.random.default_rng(5)))
    assert not first.equals(other.sample(300, np.random.default_rng(5)))
    assert not first.equals(model.sample(300, np.random.default_rng(6)))


def test_saved_state_loads_back_to_the_same_samples(fitted, tmp_path):
    name, _, _, generator, domain, model = fitted
    written = save_model(model, tmp_path, params=generator.params.model_dump())
    assert sorted(p.name for p in written) == sorted([STATE_JSON, STATE_TENSORS])
    assert not list(tmp_path.glob("*.pkl")) and b"pickle" not in (tmp_path / STATE_TENSORS).read_bytes()[:200]
    loaded = load_model(tmp_path, domain=domain)
    assert loaded.privacy == model.privacy and loaded.released_rows == model.released_rows
    pd.testing.assert_frame_equal(loaded.sample(200, np.random.default_rng(9)), model.sample(200, np.random.default_rng(9)))


def test_loading_refuses_another_domain_or_a_tampered_state(fitted, tmp_path):
    name, schema, _, generator, domain, model = fitted
    save_model(model, tmp_path, params=generator.params.model_dump())
    other = make_generator(name, {**SMALL[name], "numeric_bins": 8}).build_domain(schema)
    with pytest.raises(GeneratorError, match="different domain"):
        load_model(tmp_path, domain=other)
    document = json.loads((tmp_path / STATE_JSON).read_text())
    document["params"]["numeric_bins"] = -3
    (tmp_path / STATE_JSON).write_text(json.dumps(document))
    with pytest.raises(GeneratorError, match="numeric_bins"):
        load_model(tmp_path)
    (tmp_path / STATE_TENSORS).write_bytes(b"not a safetensors file")
    with pytest.raises(GeneratorError, match="cannot read"):
        load_model(tmp_path)


def test_training_reports_progress_and_epsilon(adult_slice, caplog):
    schema, table = adult_slice
    with caplog.at_level(logging.INFO, logger="synth_pipeline.generators"):
        fit("aim", schema, table)
        fit("dpsgd_autoregressive", schema, table)
    text = caplog.text
    assert "AIM round 1:" in text and "dpsgd_autoregressive epoch 2" in text
    assert text.count("epsilon spent") >= 3
    assert "Private" not in text and "Bachelors" not in text  # figures only, never values


@pytest.mark.parametrize("name", sorted(SMALL))
def test_a_person_is_the_privacy_unit_when_the_spec_says_so(adult_slice, name):
    schema, table = adult_slice
    people = Individuals(ids=np.arange(len(table)) // 3, max_rows=3)  # 500 people with 3 rows each
    _, _, model = fit(name, schema, table, units=people)
    assert model.privacy["epsilon"] <= EPSILON and model.privacy["unit"] == "individual (max 3 rows)"
    gaussians = [c for c in model.privacy["charges"] if c["mechanism"] == "gaussian"]
    assert max(c["sensitivity"] for c in gaussians) == 3  # a person moves a count by up to their 3 rows
    assert len(model.sample(50, np.random.default_rng(0))) == 50
    with pytest.raises(PrivacyConfigError, match="more rows than max_rows"):
        fit(name, schema, table, units=Individuals(ids=np.arange(len(table)) // 4, max_rows=3))


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize(("epsilon", "delta", "floor", "message"), [
    (0.0, 1e-5, 1500, "epsilon must be a positive number"),
    (-1.0, 1e-5, 1500, "epsilon must be a positive number"),
    (1.0, 1e-3, 1500, r"delta \(0.001\) must be below 1/n = 0.000667 for the declared floor of 1500"),
    (1.0, 1.0, 1500, "delta must lie strictly between 0 and 1"),
])
def test_infeasible_privacy_is_refused_before_training(adult_slice, name, epsilon, delta, floor, message):
    schema, table = adult_slice
    generator = make_generator(name, SMALL[name])
    domain = generator.build_domain(schema)
    with pytest.raises(PrivacyConfigError, match=message):
        generator.check_feasible(domain, min_units=floor, epsilon=epsilon, delta=delta)


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("rows", [3, 40])
def test_fit_never_refuses_on_the_true_size(adult_slice, name, rows):
    """delta >= 1/n for the true n, or a table smaller than a batch: decided before the charge on the declared
    floor, never inside fit on the private count (that refusal would reveal the size)."""
    schema, table = adult_slice
    generator = make_generator(name, SMALL[name])
    model = generator.fit(table.iloc[:rows], generator.build_domain(schema), epsilon=1.0, delta=0.1, units=None,
                          rng=np.random.default_rng(0))
    assert model.privacy["epsilon"] <= 1.0


def test_a_floor_smaller_than_the_batch_is_refused_before_training(adult_slice):
    schema, table = adult_slice
    generator = make_generator("dpsgd_autoregressive", {**SMALL["dpsgd_autoregressive"], "batch_size": 2000})
    domain = generator.build_domain(schema)
    with pytest.raises(PrivacyConfigError, match="declared floor of 1500 privacy units in training is below the batch"):
        generator.check_feasible(domain, min_units=1500, epsilon=1.0, delta=1e-5)


def test_a_budget_too_small_for_the_schedule_is_refused(adult_slice):
    schema, table = adult_slice
    generator = make_generator("dpsgd_autoregressive", {**SMALL["dpsgd_autoregressive"], "epochs": 500})
    with pytest.raises(PrivacyConfigError, match="noise multiplier above"):
        generator.check_feasible(generator.build_domain(schema), min_units=len(table), epsilon=0.01, delta=1e-5)


def test_a_huge_categorical_is_refused_before_training(adult_slice):
    schema, _ = adult_slice
    huge = dict(schema)
    huge["native_country"] = schema["native_country"].model_copy(
        update={"categories": tuple(f"country{i}" for i in range(10_000))})
    for name in SMALL:
        with pytest.raises(PrivacyConfigError, match="schema.native_country: 10000 levels"):
            make_generator(name, SMALL[name]).build_domain(huge)


@pytest.mark.parametrize("epsilon", [0.5, 2.0, 10.0])
def test_aim_gdp_spends_its_gaussian_dp_budget_and_no_more(adult_slice, epsilon):
    schema, table = adult_slice
    generator = make_generator("aim", {**SMALL["aim"], "accounting": "gdp"})
    model = generator.fit(table, generator.build_domain(schema), epsilon=epsilon, delta=DELTA, units=None,
                          rng=np.random.default_rng(0))
    privacy = model.privacy
    assert privacy["accountant"] == "gdp" and 0.99 * epsilon < privacy["epsilon"] <= epsilon
    # Every charge has its GDP cost; the RDP view of the same charges would claim more.
    assert {c["mechanism"] for c in privacy["charges"]} == {"gaussian", "exponential"}
    assert privacy["rdp_epsilon_for_comparison"] > privacy["epsilon"]
