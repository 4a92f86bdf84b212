"""Output validation: which suite expectations carry over, the schema rules and the declared constraints."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from synth_pipeline.errors import ConfigError
from synth_pipeline.evaluate.validation import check_constraints, check_schema, released_suite, validate_synthetic
from synth_pipeline.spec.schema import (
    BooleanColumn,
    CategoricalColumn,
    DatetimeColumn,
    NumericColumn,
    StringColumn,
)

SCHEMA = {
    "age": NumericColumn(type="integer", min=18, max=90),
    "score": NumericColumn(type="float", min=0, max=1, nullable=True),
    "kind": CategoricalColumn(type="categorical", categories=("a", "b")),
    "flag": BooleanColumn(type="boolean", nullable=True),
    "start": DatetimeColumn(type="datetime", min="2020-01-01", max="2020-12-31"),
    "end": DatetimeColumn(type="datetime", min="2020-01-01", max="2020-12-31", nullable=True),
}


def _table(**overrides):
    table = pd.DataFrame({
        "age": pd.array([20, 30, 40, 50], dtype="Int64"),
        "score": pd.array([0.1, None, 0.5, 0.9], dtype="Float64"),
        "kind": pd.Categorical(["a", "b", "a", "b"], categories=["a", "b"]),
        "flag": pd.array([True, None, False, True], dtype="boolean"),
        "start": pd.to_datetime(["2020-01-01", "2020-02-01", "2020-03-01", "2020-04-01"]),
        "end": pd.to_datetime(["2020-01-05", None, "2020-02-01", "2020-04-01"]),
    })
    for column, values in overrides.items():
        table[column] = values
    return table


def _violations(outcomes):
    return {outcome.rule: outcome.violations for outcome in outcomes}


def test_a_valid_table_breaks_no_schema_rule():
    outcomes = check_schema(_table(), SCHEMA)
    assert all(outcome.passed for outcome in outcomes)
    assert {"age within [18, 90]", "kind in its 2 declared categories", "age not null", "start of type datetime",
            "no undeclared columns"} <= set(_violations(outcomes))


@pytest.mark.parametrize(("column", "values", "rule", "count"), [
    ("age", pd.array([17, 30, 91, 50], dtype="Int64"), "age within [18, 90]", 2),
    ("age", pd.array([20, None, 40, None], dtype="Int64"), "age not null", 2),
    ("age", pd.array([20.5, 30, 40, 50], dtype="Float64"), "age of type integer", 1),
    ("score", ["0.1", "x", None, "0.3"], "score of type float", 1),
    ("kind", ["a", "z", "b", None], "kind in its 2 declared categories", 1),
    ("kind", pd.Categorical(["a", None, "b", "a"], categories=["a", "b"]), "kind not null", 1),
    ("flag", ["true", "maybe", None, "false"], "flag of type boolean", 1),
    ("start", pd.to_datetime(["2019-12-31", "2020-02-01", "2021-01-01", "2020-04-01"]), "start within [2020-01-01, 2020-12-31]", 2),
])
def test_each_schema_rule_counts_its_rows(column, values, rule, count):
    assert _violations(check_schema(_table(**{column: values}), SCHEMA))[rule] == count


def test_missing_and_undeclared_columns():
    table = _table().drop(columns=["score"]).assign(extra=1, other=2)
    violations = _violations(check_schema(table, {**SCHEMA, "note": StringColumn(type="string")}))
    assert violations["column 'score' present"] == 4
    assert violations["no undeclared columns"] == 2  # free text is not released either, so `note` is not expected


@pytest.mark.parametrize(("rule", "violations", "checked"), [
    ("age >= 30", 1, 4),
    ("score < 0.5", 2, 3),              # the missing score is not evaluated
    ("end >= start", 1, 3),             # 2020-02-01 < 2020-03-01; a missing end is not evaluated
    ("start >= 2020-02-01", 1, 4),      # a date literal for a date column
    ("flag == true", 1, 3),
    ("age != 40", 1, 4),
])
def test_constraints(rule, violations, checked):
    [outcome] = check_constraints(_table(), [rule], SCHEMA)
    assert (outcome.violations, outcome.checked) == (violations, checked)


def test_a_constraint_on_a_missing_column_breaks_every_row():
    [outcome] = check_constraints(_table().drop(columns=["end"]), ["end >= start"], SCHEMA)
    assert outcome.violations == outcome.checked == 4


@pytest.mark.parametrize("rule", ["kind >= age", "age >= 1x"])
def test_a_constraint_that_cannot_compare_is_a_config_error(rule):
    with pytest.raises(ConfigError, match="evaluation.constraints"):
        check_constraints(_table(), [rule], SCHEMA)


def test_released_suite_skips_what_does_not_carry_over():
    suite = {"name": "s", "expectations": [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1, "max_value": 2}},
        {"type": "expect_table_columns_to_match_ordered_list", "kwargs": {"column_list": ["age", "name"]}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "name"}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "age", "min_value": 18, "max_value": 90}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "income", "min_value": 0, "max_value": 9}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "note"}},
    ]}
    input_schema = {"age": SCHEMA["age"], "name": StringColumn(type="string"), "note": StringColumn(type="string"),
                    "income": NumericColumn(type="integer", min=0, max=9)}
    released = {"age": SCHEMA["age"], "note": StringColumn(type="string"),  # a pseudonym: a string, not released
                "income": CategoricalColumn(type="categorical", categories=("[0, 5)", "[5, 9]"))}  # generalized
    kept, skipped = released_suite(suite, input_schema=input_schema, released_schema=released)
    assert [entry["kwargs"].get("column") for entry in kept["expectations"]] == ["age"]
    reasons = [entry["reason"] for entry in skipped]
    assert reasons[0].startswith("table shape") and reasons[1].startswith("table shape")
    assert reasons[2] == "column 'name' is not in the released table"
    assert "generalized by the PII stage" in reasons[3]
    assert reasons[4] == "column 'note' is not in the released table"


def test_validate_synthetic_runs_the_suite_and_summarises_without_values(tmp_path):
    suite = {"name": "s", "expectations": [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "age", "min_value": 18, "max_value": 90}},
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 100, "max_value": 200}},
    ]}
    synthetic = _table(age=pd.array([20, 987654, 40, 50], dtype="Int64"))
    report = validate_synthetic(synthetic, suite=suite, suite_path=tmp_path / "suite.json", input_schema=SCHEMA,
                                released_schema=SCHEMA, constraints=["end >= start"], real=_table())
    assert not report.passed
    assert json.loads((tmp_path / "suite.json").read_text())["expectations"] == suite["expectations"][:1]
    summary = report.summary()
    assert "expect_column_values_to_be_between(column='age', min_value=18.0, max_value=90.0): 1 of 4 rows unexpected" in summary
    assert "schema age within [18, 90]: 1 of 4 rows" in summary
    assert "constraint end >= start: 1 of 3 rows" in summary
    assert "987654" not in summary and "987654" not in json.dumps(report.to_dict())
    assert report.real_violations == {"end >= start": 1}
    assert report.to_dict()["skipped_expectations"][0]["expectation"] == "expect_table_row_count_to_be_between"
    assert np.isfinite(report.gx.rows)
