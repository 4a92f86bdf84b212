"""Anonymeter's attacks on this stack: dtype conversion on pandas 3, reproducibility, copies against fresh rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synth_pipeline.evaluate import anonymeter_risk
from synth_pipeline.evaluate.encoding import MixedEncoder


def test_conversion_round_trips_nullable_and_categorical_dtypes(real_tables, eval_schema):
    train, _ = real_tables
    sample = train.head(50).copy()
    sample.loc[0, ["income", "job", "smoker"]] = pd.NA
    converted = anonymeter_risk.anonymeter_frame(sample, eval_schema, list(eval_schema))
    for name, dtype in converted.dtypes.items():  # numbers as float64 without NA; text without any missing value
        assert dtype == np.float64 or (pd.api.types.is_string_dtype(dtype) and converted[name].notna().all()), name
    assert converted.loc[0, "job"] == anonymeter_risk.MISSING_LABEL and converted.loc[0, "smoker"] == "<missing>"
    assert converted.loc[0, "income"] < eval_schema["income"].min  # a missing number sits below the public range
    assert converted["visit"].min() >= 0  # seconds after the declared minimum
    restored = anonymeter_risk.from_anonymeter_frame(converted, eval_schema)
    encoder = MixedEncoder.for_release(eval_schema, train)
    np.testing.assert_allclose(encoder.encode(restored), encoder.encode(sample))


def test_the_inference_predictor_returns_the_nearest_synthetic_secret(real_tables, eval_schema):
    train, _ = real_tables
    encoder = MixedEncoder.for_release(eval_schema, train)
    aux = [name for name in eval_schema if name != "label"]
    predictor = anonymeter_risk.NearestSyntheticPredictor(train, aux=aux, secret="label", encoder=encoder)
    targets = anonymeter_risk.anonymeter_frame(train.iloc[[5, 7, 11]], eval_schema, list(eval_schema))
    guesses = predictor.predict(targets)
    assert guesses.index.tolist() == [5, 7, 11]
    assert guesses.tolist() == train["label"].iloc[[5, 7, 11]].astype(str).tolist()


def _risks(synthetic, train, holdout, schema, seed):
    rng = np.random.default_rng(seed)
    encoder = MixedEncoder.for_release(schema, synthetic)
    columns = encoder.columns
    return {
        "singling_out": anonymeter_risk.singling_out_risk(train, synthetic, holdout, schema, attacks=100,
                                                          columns_per_query=3, max_attempts=20_000,
                                                          confidence=0.95, rng=rng),
        "linkability": anonymeter_risk.linkability_risk(train, synthetic, holdout, schema,
                                                        aux_columns=(columns[0::2], columns[1::2]), attacks=150,
                                                        confidence=0.95, rng=rng),
        "inference": anonymeter_risk.inference_risk(train, synthetic, holdout, encoder, secret="label", attacks=300,
                                                    confidence=0.95, rng=rng),
    }


@pytest.mark.slow  # real training / a full attack: seconds each, kept out of test-fast
def test_a_copy_is_at_risk_and_fresh_rows_are_not(real_tables, eval_schema, draw):
    train, holdout = real_tables
    copy = _risks(train, train, holdout, eval_schema, seed=1)
    fresh = _risks(draw["population"](1600, np.random.default_rng(2)), train, holdout, eval_schema, seed=1)
    assert copy["singling_out"]["risk"] > 0.4 and copy["singling_out"]["anonymeter"]["risk"] > 0.8
    assert copy["inference"]["risk"] > 0.5
    assert copy["linkability"]["risk"] > fresh["linkability"]["risk"]
    for name, result in fresh.items():  # a 400-row control set: wide intervals, but zero inside them
        low, high = result["confidence_interval"]
        assert low <= result["risk"] <= high and low == 0.0, name
        assert result["risk"] < copy[name]["risk"], name
    assert copy["singling_out"]["attacks"] == 100 and copy["inference"]["attacks"] == 300


@pytest.mark.slow  # two full runs of the attacks
def test_risks_are_reproducible_from_the_rng(real_tables, eval_schema):
    train, holdout = real_tables
    first = _risks(train.head(800), train, holdout, eval_schema, seed=4)
    second = _risks(train.head(800), train, holdout, eval_schema, seed=4)
    for name in first:
        assert first[name]["risk"] == pytest.approx(second[name]["risk"]), name


def test_equal_size_risk_by_hand():
    """Eight training rows, two control rows, four predicates each matching one training row and no control row:
    cut into four chunks of two, each predicate singles out in exactly one chunk (rate 4 / 16), none in the control
    set; scaled by |T| / |H| = 4 that is a risk of 1, as at full size."""
    import polars as pl

    ori, control = pl.DataFrame({"x": [1, 2, 3, 4, 5, 6, 7, 8]}), pl.DataFrame({"x": [9, 10]})
    queries = [pl.col("x") == value for value in (1, 2, 3, 4)]
    result = anonymeter_risk._equal_size_risk(ori, control, queries, confidence=0.95, rng=np.random.default_rng(0))
    assert (result["attack_rate"], result["control_rate"], result["chunks"], result["scale"]) == (0.25, 0.0, 4, 4.0)
    assert result["risk"] == 1.0
    # The other way round (a control set larger than the training table) the control set is the one cut.
    swapped = anonymeter_risk._equal_size_risk(control, ori, [pl.col("x") == 9], confidence=0.95,
                                               rng=np.random.default_rng(0))
    assert (swapped["attack_rate"], swapped["control_rate"], swapped["scale"]) == (1.0, 0.0, 1.0)
