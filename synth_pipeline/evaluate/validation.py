"""Output validation: the synthetic table against the release's GX suite, its released schema and the spec's
declared constraints. Every outcome is a rule and a count of rows, never a row or a value.

The GX suite was written for the harmonized input table, so three kinds of expectation do not carry over and are
reported as skipped (with the reason), not failed: the table's shape (row count: the release's size is set by
`publish.rows` or a DP estimate, not by the source; the column list: the PII stage changes it, and the schema check
below checks the released columns instead), expectations on columns the released table does not hold (dropped,
pseudonymized or redacted), and expectations on columns the PII stage generalized (their released domain differs).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from synth_pipeline import quality
from synth_pipeline.errors import ConfigError
from synth_pipeline.evaluate.encoding import domain_columns, numeric_values, public_bounds
from synth_pipeline.spec.evaluation import CONSTRAINT
from synth_pipeline.spec.schema import BooleanColumn, CategoricalColumn, ColumnSpec, DatetimeColumn, NumericColumn

TABLE_SHAPE = frozenset({
    "expect_table_row_count_to_be_between", "expect_table_row_count_to_equal",
    "expect_table_row_count_to_equal_other_table",
    "expect_table_columns_to_match_ordered_list", "expect_table_columns_to_match_set",
    "expect_table_column_count_to_equal", "expect_table_column_count_to_be_between",
})
_COLUMN_KEYS = ("column", "column_A", "column_B")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = {">=": np.greater_equal, ">": np.greater, "<=": np.less_equal, "<": np.less, "==": np.equal,
              "!=": np.not_equal}


@dataclass(frozen=True)
class RuleOutcome:
    """One schema rule or constraint: how many rows break it out of how many it was checked on."""

    kind: str  # "schema" | "constraint"
    rule: str
    violations: int
    checked: int
    unit: str = "rows"

    @property
    def passed(self) -> bool:
        return self.violations == 0

    def describe(self) -> str:
        return f"{self.kind} {self.rule}: {self.violations} of {self.checked} {self.unit}"


@dataclass(frozen=True)
class ValidationReport:
    gx: quality.QualityReport
    skipped_expectations: tuple[dict, ...]
    rules: tuple[RuleOutcome, ...]
    real_violations: dict[str, int] = field(default_factory=dict)  # the constraints on the training table, as context

    @property
    def passed(self) -> bool:
        return self.gx.passed and all(rule.passed for rule in self.rules)

    def summary(self) -> str:
        failed = [rule for rule in self.rules if not rule.passed]
        if self.passed:
            return (f"synthetic table valid: {self.gx.evaluated} expectations ({len(self.skipped_expectations)} "
                    f"skipped), {len(self.rules)} schema rules and constraints on {self.gx.rows} rows")
        lines = [f"synthetic table invalid: {len(self.gx.failures)} of {self.gx.evaluated} expectations and "
                 f"{len(failed)} of {len(self.rules)} schema rules and constraints failed on {self.gx.rows} rows"]
        lines += [f"  - expectation {outcome.describe(with_counts=True)}" for outcome in self.gx.failures]
        lines += [f"  - {rule.describe()}" for rule in failed]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"passed": self.passed, "gx": self.gx.to_dict(), "skipped_expectations": list(self.skipped_expectations),
                "rules": [{**asdict(rule), "passed": rule.passed} for rule in self.rules],
                "real_violations": dict(self.real_violations)}


def released_suite(document: dict, *, input_schema: Mapping[str, ColumnSpec],
                   released_schema: Mapping[str, ColumnSpec]) -> tuple[dict, list[dict]]:
    """The suite's expectations that apply to the released table, and the skipped ones with their reason."""
    released = set(domain_columns(released_schema))
    kept, skipped = [], []
    for entry in document["expectations"]:
        kind, kwargs = entry["type"], entry.get("kwargs", {})
        named = [kwargs[key] for key in _COLUMN_KEYS if key in kwargs] + list(kwargs.get("column_list", []))
        reason = None
        if kind in TABLE_SHAPE:
            reason = "table shape of the input; the schema check covers the released columns"
        elif absent := [column for column in named if column not in released]:
            reason = f"column {absent[0]!r} is not in the released table"
        elif changed := [column for column in named if input_schema.get(column) != released_schema.get(column)]:
            reason = f"column {changed[0]!r} was generalized by the PII stage; the schema check covers its domain"
        if reason is None:
            kept.append(entry)
        else:
            skipped.append({"expectation": kind, "columns": named, "reason": reason})
    return {**document, "expectations": kept}, skipped


def _numbers(series: pd.Series, spec: ColumnSpec) -> tuple[np.ndarray, int]:
    """Values as float64 and how many non-null values are not of the column's type."""
    present = series.notna().to_numpy()
    if isinstance(spec, DatetimeColumn):
        parsed = pd.to_datetime(series, errors="coerce")
        values = numeric_values(parsed, spec)
    elif isinstance(spec, BooleanColumn):
        text = series.astype("string").str.lower()
        values = text.map({"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0}).to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = pd.to_numeric(series.astype("object"), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    wrong = present & np.isnan(values)
    if isinstance(spec, NumericColumn) and spec.type == "integer":
        wrong |= present & ~np.isnan(values) & (values != np.round(values))
    return values, int(wrong.sum())


def check_schema(table: pd.DataFrame, schema: Mapping[str, ColumnSpec]) -> list[RuleOutcome]:
    """Columns, types, bounds, categories and nullability of the released schema."""
    rows = len(table)
    expected = domain_columns(schema)
    undeclared = sum(column not in expected for column in table.columns)
    outcomes = [RuleOutcome("schema", "no undeclared columns", undeclared, len(table.columns), unit="columns")]
    for name in expected:
        spec = schema[name]
        if name not in table.columns:
            outcomes.append(RuleOutcome("schema", f"column {name!r} present", rows, rows))
            continue
        series = table[name]
        if not spec.nullable:
            outcomes.append(RuleOutcome("schema", f"{name} not null", int(series.isna().sum()), rows))
        if isinstance(spec, CategoricalColumn):
            if spec.categories is not None:
                outside = series.notna() & ~series.astype("string").isin(list(spec.categories))
                outcomes.append(RuleOutcome("schema", f"{name} in its {len(spec.categories)} declared categories",
                                            int(outside.sum()), rows))
            continue
        values, wrong = _numbers(series, spec)
        outcomes.append(RuleOutcome("schema", f"{name} of type {spec.type}", wrong, rows))
        if isinstance(spec, (NumericColumn, DatetimeColumn)):
            low, high = public_bounds(spec)
            outside = ~np.isnan(values) & ((values < low) | (values > high))
            shown = [f"{bound:g}" if isinstance(bound, float) else bound for bound in (spec.min, spec.max)]
            outcomes.append(RuleOutcome("schema", f"{name} within [{shown[0]}, {shown[1]}]", int(outside.sum()), rows))
    return outcomes



def _side(table: pd.DataFrame, token: str, schema: Mapping[str, ColumnSpec], left: ColumnSpec) -> np.ndarray:
    """A constraint operand as float64 (NaN = missing): a column, a number, true/false, or a date for a date column."""
    if _IDENTIFIER.fullmatch(token) and token not in ("true", "false"):
        return _operand(table[token], schema[token])
    if token in ("true", "false"):
        return np.full(len(table), 1.0 if token == "true" else 0.0)
    try:
        value = pd.Timestamp(token).timestamp() if isinstance(left, DatetimeColumn) else float(token)
    except ValueError:
        raise ValueError(f"{token!r} is neither a column, a number, true/false nor (for a date column) an ISO "
                         "date") from None
    return np.full(len(table), float(value))


def _operand(series: pd.Series, spec: ColumnSpec) -> np.ndarray:
    if isinstance(spec, CategoricalColumn):
        raise ValueError("a categorical column has no order: constraints compare numbers, booleans and dates")
    return _numbers(series, spec)[0]


def check_constraints(table: pd.DataFrame, constraints: Sequence[str],
                      schema: Mapping[str, ColumnSpec]) -> list[RuleOutcome]:
    """Each `column OP value` rule on the rows where both sides are present (SQL's three-valued logic: a missing
    operand neither satisfies nor breaks a rule; nullability is the schema check's business)."""
    outcomes = []
    for rule in constraints:
        left, operator, right = CONSTRAINT.match(rule).groups()
        if left not in table.columns or (_IDENTIFIER.fullmatch(right) and right not in ("true", "false")
                                         and right not in table.columns):
            outcomes.append(RuleOutcome("constraint", rule, len(table), len(table)))
            continue
        try:
            a, b = _operand(table[left], schema[left]), _side(table, right, schema, schema[left])
        except ValueError as exc:
            raise ConfigError(f"evaluation.constraints: {rule!r}: {exc}") from None
        both = ~np.isnan(a) & ~np.isnan(b)
        broken = both & ~_OPERATORS[operator](np.where(both, a, 0.0), np.where(both, b, 0.0))
        outcomes.append(RuleOutcome("constraint", rule, int(broken.sum()), int(both.sum())))
    return outcomes


def validate_synthetic(synthetic: pd.DataFrame, *, suite: dict, suite_path: Path,
                       input_schema: Mapping[str, ColumnSpec], released_schema: Mapping[str, ColumnSpec],
                       constraints: Sequence[str], real: pd.DataFrame) -> ValidationReport:
    """Run everything. `suite_path` is where the released suite is written for GX (inside the step's output);
    `real` (the training table) only gives each constraint's violation count on real data, as context."""
    kept, skipped = released_suite(suite, input_schema=input_schema, released_schema=released_schema)
    suite_path.write_text(json.dumps(kept, indent=2), encoding="utf-8")
    gx = quality.validate_table(synthetic, suite_path)
    rules = check_schema(synthetic, released_schema) + check_constraints(synthetic, constraints, released_schema)
    real_violations = {outcome.rule: outcome.violations
                       for outcome in check_constraints(real, constraints, released_schema)}
    return ValidationReport(gx=gx, skipped_expectations=tuple(skipped), rules=tuple(rules),
                            real_violations=real_violations)
