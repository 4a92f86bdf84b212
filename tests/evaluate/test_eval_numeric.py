"""Exact-value figures per numeric column: they tell a faithful generator from a broken decoder, each figure sits
beside its floor, and no real value is reported."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from pydantic import TypeAdapter

from synth_pipeline.domain import build_domain
from synth_pipeline.evaluate.numeric import QUANTILES, numeric_fidelity
from synth_pipeline.harmonize import _final_dtypes
from synth_pipeline.spec.schema import ColumnSpec

COLUMN = TypeAdapter(ColumnSpec)
SCHEMA = {name: COLUMN.validate_python(spec) for name, spec in {
    "page_value": {"type": "float", "min": 0, "max": 400, "atoms": [0]},
    "score": {"type": "float", "min": 0, "max": 1, "values": [0, 0.2, 0.4, 0.6, 0.8, 1]},
    "income": {"type": "float", "min": 0, "max": 1_000_000, "nullable": True},
    "label": {"type": "categorical", "categories": ["a", "b"]},
}.items()}
BOUNDS_ONLY = {**SCHEMA, **{name: COLUMN.validate_python({"type": "float", "min": spec.min, "max": spec.max})
                            for name, spec in SCHEMA.items() if name in ("page_value", "score")}}


def _sessions(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    income = rng.lognormal(10.5, 0.6, rows).clip(0, 1_000_000).round(2).astype(object)
    income[rng.random(rows) < 0.1] = None
    return _final_dtypes(pd.DataFrame({
        "page_value": np.where(rng.random(rows) < 0.78, 0.0, rng.gamma(1.5, 30.0, rows).clip(0.01, 400)),
        "score": rng.choice([0, 0.2, 0.4, 0.6, 0.8, 1], rows, p=[0.3, 0.1, 0.1, 0.2, 0.1, 0.2]),
        "income": income,
        "label": rng.choice(["a", "b"], rows),
    }), SCHEMA)


def _decoded(real: pd.DataFrame, schema: dict, rng: np.random.Generator) -> pd.DataFrame:
    domain = build_domain(schema, numeric_bins=16)
    return domain.decode(domain.encode(real), rng)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_broken_decoder_is_far_above_the_floor_and_a_fresh_sample_is_not(seed):
    rng = np.random.default_rng(seed)
    train, holdout, fresh = (_sessions(3_000, rng) for _ in range(3))
    faithful = numeric_fidelity(train, fresh, holdout, SCHEMA)  # another real sample: what a perfect model gives
    broken = numeric_fidelity(train, _decoded(train, BOUNDS_ONLY, rng), holdout, SCHEMA)
    assert set(faithful) == {"page_value", "score", "income"}  # numeric columns only
    for column in ("page_value", "score"):
        floor = faithful[column]["ks"]["floor"]
        assert faithful[column]["ks"]["synthetic"] < 3 * floor + 0.02
        assert broken[column]["ks"]["synthetic"] > 10 * floor  # a lost point mass is a jump the CDFs cannot share
        lost = broken[column]["points"][0]
        assert abs(lost["real"] - lost["floor"]) < 0.04 and lost["synthetic"] < 0.01  # 0 was 78% / 30%: now none
    for q in faithful["income"]["quantiles"]:  # a continuous column: each percentile near its own rank
        assert abs(q["synthetic"] - q["q"]) < 0.05 and abs(q["floor"] - q["q"]) < 0.05


def test_quantiles_are_mid_ranks_and_no_real_value_is_reported():
    rng = np.random.default_rng(3)
    train, holdout = _sessions(2_000, rng), _sessions(2_000, rng)
    figures = numeric_fidelity(train, train, holdout, SCHEMA)["income"]
    assert [q["q"] for q in figures["quantiles"]] == list(QUANTILES)
    # The same table on both sides: each percentile sits at its own rank, and the distances are 0.
    assert all(abs(q["synthetic"] - q["q"]) < 0.01 for q in figures["quantiles"])
    assert figures["ks"]["synthetic"] == 0 and figures["wasserstein"]["synthetic"] == 0
    text = json.dumps(figures)
    real_values = {f"{v:.2f}" for v in train["income"].dropna().astype(float)}
    assert not [v for v in real_values if v in text]  # shares and distances only, never an income
    assert all(0 <= q["synthetic"] <= 1 and 0 <= q["floor"] <= 1 for q in figures["quantiles"])


def test_a_column_empty_on_one_side_is_left_out():
    rng = np.random.default_rng(4)
    train, holdout = _sessions(200, rng), _sessions(200, rng)
    empty = train.assign(income=pd.array([None] * len(train), dtype="Float64"))
    assert "income" not in numeric_fidelity(train, empty, holdout, SCHEMA)
