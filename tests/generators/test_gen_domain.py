"""Public-domain encoding: every type round-trips, the domain comes from the spec alone, bad domains are refused."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from pydantic import TypeAdapter, ValidationError

from synth_pipeline.domain import Domain, build_domain
from synth_pipeline.errors import DomainError, PrivacyConfigError
from synth_pipeline.harmonize import _final_dtypes
from synth_pipeline.spec.schema import ColumnSpec

COLUMN = TypeAdapter(ColumnSpec)


def schema_of(**columns: dict) -> dict:
    return {name: COLUMN.validate_python(spec) for name, spec in columns.items()}


SCHEMA = schema_of(
    small_int={"type": "integer", "min": 0, "max": 4},
    wide_int={"type": "integer", "min": 0, "max": 99_999, "nullable": True},
    heavy={"type": "integer", "min": 0, "max": 99_999, "bin_edges": [0, 1, 100, 10_000, 99_999]},
    real={"type": "float", "min": -5, "max": 10, "nullable": True},
    colour={"type": "categorical", "categories": ["red", "green", "blue"], "nullable": True},
    flag={"type": "boolean", "nullable": True},
    day={"type": "datetime", "min": "2000-01-01", "max": "2030-12-31", "nullable": True},
    moment={"type": "datetime", "min": "2020-01-01T00:00:00", "max": "2020-01-02T00:00:00"},
)


def typed(rows: dict) -> pd.DataFrame:
    return _final_dtypes(pd.DataFrame(rows), SCHEMA)


@pytest.fixture
def table() -> pd.DataFrame:
    return typed({
        "small_int": [0, 4, 2, 3],
        "wide_int": [0, 99_999, None, 51_234],
        "heavy": [0, 7, 99_999, 500],
        "real": [-5.0, 10.0, None, 3.25],
        "colour": ["red", None, "blue", "green"],
        "flag": [True, None, False, True],
        "day": ["2000-01-01", "2030-12-31", None, "2017-06-15"],
        "moment": ["2020-01-01T00:00:00", "2020-01-02T00:00:00", "2020-01-01T13:45:10", "2020-01-01T06:00:00"],
    })


def test_every_type_round_trips_with_nulls_and_target_dtypes(table):
    domain = build_domain(SCHEMA, numeric_bins=16)
    codes = domain.encode(table)
    decoded = domain.decode(codes, np.random.default_rng(0))
    assert (domain.encode(decoded) == codes).all()  # every value decodes into its own bin
    assert list(decoded.dtypes.astype(str)) == list(table.dtypes.astype(str))  # harmonize's dtypes
    pd.testing.assert_frame_equal(decoded.isna(), table.isna())  # nulls stay null, nothing else becomes null
    assert list(decoded["small_int"]) == [0, 4, 2, 3]  # one code per value for a small integer range
    assert list(decoded["colour"].cat.categories) == ["red", "green", "blue"]
    assert (decoded["day"].dropna() == decoded["day"].dropna().dt.normalize()).all()  # a date column stays dates
    assert decoded["heavy"][0] == 0  # the declared point bin [0, 1)


def test_codes_and_sizes_come_from_the_spec(table):
    domain = build_domain(SCHEMA, numeric_bins=16)
    # small_int: 5 values; wide_int: 16 bins + null; heavy: 4 declared bins; real: 16 + null; colour: 3 + null;
    # flag: 2 + null; day: 16 bins of days + null; moment: 16 bins of seconds.
    assert domain.sizes == (5, 17, 4, 17, 4, 3, 17, 16)
    assert domain.encode(table)[:, 2].tolist() == [0, 1, 3, 2]


def test_an_encoder_never_widens_its_domain():
    schema = schema_of(age={"type": "integer", "min": 17, "max": 90, "out_of_domain": "clip"},
                       score={"type": "float", "min": 0, "max": 1})
    inside = build_domain(schema, numeric_bins=8)
    wild = pd.DataFrame({"age": pd.array([5, 17, 300], dtype="Int64"), "score": pd.array([0.5, 0.1, 0.9], dtype="Float64")})
    assert build_domain(schema, numeric_bins=8) == inside  # built from the spec, never from a table
    codes = inside.encode(wild)
    assert codes[:, 0].tolist() == [0, 0, inside.sizes[0] - 1]  # clipped into the edge bins
    decoded = inside.decode(codes, np.random.default_rng(1))
    assert decoded["age"].between(17, 90).all()
    refusing = build_domain(schema_of(score={"type": "float", "min": 0, "max": 1}), numeric_bins=8)
    with pytest.raises(DomainError, match="'score': values outside the declared domain, and its out_of_domain policy "
                                          "is reject"):
        refusing.encode(pd.DataFrame({"score": pd.array([0.5, 1.5], dtype="Float64")}))


@pytest.mark.parametrize(("spec", "values", "expected"), [
    ({"type": "categorical", "categories": ["a", "b"], "nullable": True, "out_of_domain": "null"}, ["a", "CANARY-7F3"], [0, 2]),
    ({"type": "categorical", "categories": ["a", "b"], "out_of_domain": {"map_to": "b"}}, ["a", "CANARY-7F3"], [0, 1]),
    ({"type": "categorical", "categories": ["a", "b"]}, ["a", "CANARY-7F3"], DomainError),
    ({"type": "categorical", "categories": ["a", "b"]}, ["a", None], DomainError),
    ({"type": "integer", "min": 0, "max": 9, "nullable": True, "out_of_domain": "null"}, [3, 12], [3, 10]),
])
def test_out_of_domain_values_follow_the_column_policy(spec, values, expected):
    domain = build_domain(schema_of(x=spec), numeric_bins=16)
    # Not through harmonize (which would have enforced the domain already): plain values, as a bug upstream would.
    frame = pd.DataFrame({"x": pd.array(values, dtype="Int64" if spec["type"] == "integer" else "string")})
    if expected is DomainError:
        with pytest.raises(DomainError) as raised:
            domain.encode(frame)
        assert "CANARY" not in str(raised.value)  # errors name columns and rules, never values
    else:
        assert domain.encode(frame)[:, 0].tolist() == expected


REFUSALS = [
    # (column, a value the column refuses, what the message says)
    ({"type": "categorical", "categories": ["a", "b"]}, "CANARY-7F3", "values outside the declared domain"),
    ({"type": "categorical", "categories": ["a", "b"]}, None, "nulls in a column that is not nullable"),
    ({"type": "integer", "min": 0, "max": 9}, 12, "values outside the declared domain"),
    ({"type": "float", "min": 0, "max": 1}, 1.5, "values outside the declared domain"),
    ({"type": "boolean"}, None, "nulls in a column that is not nullable"),
]
DTYPES = {"categorical": "string", "integer": "Int64", "float": "Float64", "boolean": "boolean"}


@pytest.mark.parametrize(("spec", "bad", "rule"), REFUSALS, ids=lambda case: str(case)[:24])
def test_a_refusal_says_the_same_whether_one_row_or_many_broke_the_rule(spec, bad, rule):
    """How many rows broke a rule is a statistic of private data: the message names the column and the rule only."""
    domain = build_domain(schema_of(col=spec), numeric_bins=16)
    good = {"categorical": "a", "integer": 3, "float": 0.5, "boolean": True}[spec["type"]]
    messages = set()
    for broken in (1, 2, 7):
        frame = pd.DataFrame({"col": pd.array([good] * 5 + [bad] * broken, dtype=DTYPES[spec["type"]])})
        with pytest.raises(DomainError, match=rule) as raised:
            domain.encode(frame)
        messages.add(str(raised.value))
    [message] = messages
    assert not re.search(r"\d", message) and "CANARY" not in message, message


def test_decoding_refusals_carry_no_figures():
    domain = build_domain(SCHEMA, numeric_bins=16)
    for codes in (np.zeros((3, 2), dtype=np.int64), np.full((3, len(SCHEMA)), 99, dtype=np.int64)):
        with pytest.raises(DomainError) as raised:
            domain.decode(codes, np.random.default_rng(0))
        assert not re.search(r"\d", str(raised.value)), raised.value


@pytest.mark.parametrize(("spec", "message"), [
    ({"type": "string"}, "no public domain"),
    ({"type": "categorical"}, "estimated under DP"),
    ({"type": "integer", "min": 0, "max": 100, "estimate_bounds": True}, "estimated under DP"),
    ({"type": "categorical", "categories": [f"level{i}" for i in range(10_000)]}, "10000 levels, more than the limit of 1000"),
])
def test_columns_without_a_usable_public_domain_are_refused(spec, message):
    with pytest.raises(PrivacyConfigError, match=message) as raised:
        build_domain(schema_of(col=spec), numeric_bins=16)
    assert "schema.col" in str(raised.value)


@pytest.mark.parametrize("edges", [[1, 5, 10], [0, 5, 9], [0, 5, 5, 10]])
def test_declared_bin_edges_must_span_the_bounds_in_order(edges):
    with pytest.raises(ValidationError):
        COLUMN.validate_python({"type": "integer", "min": 0, "max": 10, "bin_edges": edges})


def test_described_domain_reads_back_identically():
    domain = build_domain(SCHEMA, numeric_bins=16)
    assert Domain.from_description(domain.describe()) == domain
    broken = domain.describe()
    broken[0]["edges"] = [3.0, 1.0]
    with pytest.raises(ValueError):
        Domain.from_description(broken)


def test_decoding_refuses_codes_outside_the_domain():
    domain = build_domain(SCHEMA, numeric_bins=16)
    codes = np.zeros((1, len(SCHEMA)), dtype=np.int64)
    codes[0, 0] = 99
    with pytest.raises(DomainError):
        domain.decode(codes, np.random.default_rng(0))
