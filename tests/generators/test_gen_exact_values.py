"""Declared `values` and `atoms`: their own codes, decoded exactly, for both generators' shared encoding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import TypeAdapter, ValidationError

from synth_pipeline.domain import Domain, build_domain
from synth_pipeline.errors import DomainError
from synth_pipeline.harmonize import _final_dtypes
from synth_pipeline.spec.schema import ColumnSpec

COLUMN = TypeAdapter(ColumnSpec)
SCORES = [0, 0.2, 0.4, 0.6, 0.8, 1]
SCHEMA = {name: COLUMN.validate_python(spec) for name, spec in {
    "score": {"type": "float", "min": 0, "max": 1, "values": SCORES},  # a discrete score
    "rating": {"type": "integer", "min": 1, "max": 5, "values": [1, 2, 3, 4, 5], "nullable": True},
    "page_value": {"type": "float", "min": 0, "max": 1000, "atoms": [0]},  # zero-inflated
    "bounce": {"type": "float", "min": 0, "max": 1, "atoms": [0, 1], "nullable": True},  # both ends are point masses
    "visits": {"type": "integer", "min": 0, "max": 99_999, "atoms": [0, 99_999]},  # 99999 is a top-code
}.items()}
ATOMS = {"page_value": [0.0], "bounce": [0.0, 1.0], "visits": [0, 99_999]}


@pytest.fixture
def table() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = 2_000
    zero = rng.random(rows) < 0.45
    rating = rng.integers(1, 6, rows).astype(object)
    rating[rng.random(rows) < 0.1] = None
    bounce = np.where(zero, 0.0, np.where(rng.random(rows) < 0.1, 1.0, rng.random(rows))).astype(object)
    bounce[rng.random(rows) < 0.05] = None
    return _final_dtypes(pd.DataFrame({
        "score": rng.choice(SCORES, rows),
        "rating": rating,
        "page_value": np.where(rng.random(rows) < 0.78, 0.0, rng.gamma(2.0, 40.0, rows).clip(0, 1000)),
        "bounce": bounce,
        "visits": np.where(zero, 0, np.where(rng.random(rows) < 0.02, 99_999, rng.integers(1, 5_000, rows))),
    }), SCHEMA)


def test_values_and_atoms_round_trip_exactly(table):
    domain = build_domain(SCHEMA, numeric_bins=16)
    # score: 6 values; rating: 5 + null; page_value: 1 atom + 16 bins; bounce: 2 atoms + 16 bins + null; visits: 2 + 16
    assert domain.sizes == (6, 6, 17, 19, 18)
    codes = domain.encode(table)
    decoded = domain.decode(codes, np.random.default_rng(0))
    assert (domain.encode(decoded) == codes).all()
    assert list(decoded.dtypes.astype(str)) == ["Float64", "Int64", "Float64", "Float64", "Int64"]
    pd.testing.assert_series_equal(decoded["score"], table["score"])  # every value is declared: exact
    pd.testing.assert_series_equal(decoded["rating"], table["rating"])
    for name, atoms in ATOMS.items():
        real, synthetic = table[name].isin(atoms), decoded[name].isin(atoms)
        assert (real == synthetic).all(), name  # an atom comes back as itself, and nothing else becomes one
        assert real.sum() > 20, name  # the fixture does hold them


def test_a_generator_s_codes_decode_to_atom_shares_exactly():
    """Whatever codes a model samples, the share of each atom in the output is the share of its code."""
    domain = build_domain({"visits": SCHEMA["visits"]}, numeric_bins=16)
    codes = np.random.default_rng(3).integers(0, domain.sizes[0], size=(5_000, 1))
    decoded = domain.decode(codes, np.random.default_rng(4))["visits"]
    assert (decoded == 0).sum() == (codes == 0).sum() and (decoded == 99_999).sum() == (codes == 1).sum()


def test_an_integer_bin_decodes_around_its_atoms():
    schema = {"n": COLUMN.validate_python({"type": "integer", "min": 0, "max": 9, "atoms": [0, 5]})}
    domain = build_domain(schema, numeric_bins=1)  # one bin [0, 10) behind the two atoms
    decoded = domain.decode(np.full((4_000, 1), 2), np.random.default_rng(0))["n"]
    assert set(decoded) == {1, 2, 3, 4, 6, 7, 8, 9}
    only_atoms = {"n": COLUMN.validate_python({"type": "integer", "min": 0, "max": 1, "atoms": [0, 1]})}
    domain = build_domain(only_atoms, numeric_bins=2)  # bins [0, 1) and [1, 2) hold atoms only: no row encodes there
    assert domain.decode(np.array([[2], [3]]), np.random.default_rng(0))["n"].tolist() == [0, 1]


@pytest.mark.parametrize(("policy", "nullable", "expected"), [
    ("clip", False, [3, 2, 5]),  # 0.4 stays; 0.25 -> 0.2 and 7 -> 1, the nearest declared values
    ("null", True, [3, 6, 6]),
    ("reject", False, DomainError),
])
def test_a_value_that_is_not_declared_follows_the_column_policy(policy, nullable, expected):
    spec = COLUMN.validate_python({"type": "float", "min": 0, "max": 10, "values": [0, 0.1, 0.2, 0.4, 0.5, 1],
                                   "out_of_domain": policy, "nullable": nullable})
    domain = build_domain({"x": spec}, numeric_bins=16)
    frame = pd.DataFrame({"x": pd.array([0.4, 0.25, 7.0], dtype="Float64")})
    if expected is DomainError:
        with pytest.raises(DomainError, match="values outside the declared domain"):
            domain.encode(frame)
    else:
        assert domain.encode(frame)[:, 0].tolist() == expected


def test_the_description_keeps_atoms_and_values(table):
    domain = build_domain(SCHEMA, numeric_bins=16)
    assert Domain.from_description(domain.describe()) == domain
    older = [{k: v for k, v in item.items() if k != "atoms"} for item in build_domain(
        {"x": COLUMN.validate_python({"type": "integer", "min": 0, "max": 9})}, numeric_bins=4).describe()]
    assert Domain.from_description(older).columns[0].atoms == ()  # a model saved before atoms still loads
    broken = domain.describe()
    broken[0]["atoms"] = []  # a "values" column with no values
    with pytest.raises(ValueError):
        Domain.from_description(broken)


@pytest.mark.parametrize(("column", "message"), [
    ({"type": "float", "min": 0, "max": 1, "values": [0.5, 0.2]}, "values must be strictly increasing"),
    ({"type": "float", "min": 0, "max": 1, "atoms": [0, 0]}, "atoms must be strictly increasing"),
    ({"type": "float", "min": 0, "max": 1, "atoms": [2]}, "atoms must lie between min"),
    ({"type": "integer", "min": 0, "max": 9, "values": [1, 2.5]}, "values of an integer column must be whole numbers"),
    ({"type": "float", "min": 0, "max": 1, "values": [0, 1], "atoms": [0]}, "cannot go with atoms"),
    ({"type": "float", "min": 0, "max": 1, "values": [0, 1], "bin_edges": [0, 1]}, "cannot go with atoms"),
    ({"type": "float", "min": 0, "max": 1, "values": [0, 1], "estimate_bounds": True}, "cannot go with atoms"),
    ({"type": "float", "min": 0, "max": 1, "atoms": list(range(101))}, "at most 100"),
])
def test_bad_values_and_atoms_are_refused_at_load(column, message):
    with pytest.raises(ValidationError, match=message):
        COLUMN.validate_python(column)
