"""Clean and harmonize: several source tables of one entity -> one table in the spec's target schema.

Pure functions on DataFrames. Value-level work (markers, recodes) runs on each column's distinct values, then maps
back, so it stays fast on wide tables. The report holds counts only, but counts of private rows: it belongs in the
run folder, never in logs, XCom or an error message (errors name the source, column and rule).
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from synth_pipeline.domain import nearest_points
from synth_pipeline.errors import HarmonizeError
from synth_pipeline.spec import (
    BooleanColumn,
    CategoricalColumn,
    ColumnSpec,
    DatetimeColumn,
    HarmonizeSpec,
    MapTo,
    NumericColumn,
    SourceMapping,
    StringColumn,
)

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


@dataclass
class HarmonizeReport:
    rows_per_source: dict[str, int] = field(default_factory=dict)
    dropped_source_columns: dict[str, list[str]] = field(default_factory=dict)
    filled_missing_columns: dict[str, list[str]] = field(default_factory=dict)
    values_marked_missing: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    values_recoded: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    out_of_domain: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    rows_rejected: int = 0
    duplicates_removed: int = 0
    rows_out: int = 0

    def to_dict(self) -> dict:
        # defaultdicts defeat dataclasses.asdict; a JSON round trip turns them into plain dicts.
        return json.loads(json.dumps(vars(self)))


def canonical(value: object) -> object:
    """One spelling per value, so ' 1.0', '1' and 1 match the same recode key."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return None
        return int(value) if float(value).is_integer() else float(value)
    if isinstance(value, str):
        text = value.strip()
        return canonical(float(text)) if _NUMBER.fullmatch(text) else text
    return value


def _holds_nested(series: pd.Series) -> bool:
    """Whether a cell is a list or struct (Parquet nested types): it has no single value to clean or coerce."""
    if series.dtype != object or pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
        return False  # text read from a CSV, the common case, is told apart without a Python call per cell
    return bool(series.map(lambda value: isinstance(value, (list, tuple, dict, set, np.ndarray)),
                           na_action="ignore").any())


def _map_distinct(series: pd.Series, function) -> pd.Series:
    distinct = series.dropna().unique()
    return series.map({value: function(value) for value in distinct}, na_action="ignore")


def _apply_values(series: pd.Series, column: str, mapping: SourceMapping, spec: HarmonizeSpec, strip: bool, report: HarmonizeReport) -> pd.Series:
    markers = set(spec.missing_markers)
    source_missing = {canonical(v) for v in mapping.missing.get(column, ())}
    recodes = [{canonical(k): v for k, v in table.items()} for table in (mapping.recode.get(column), spec.recode.get(column)) if table]

    def clean(value: object) -> object:
        if isinstance(value, str):
            if value.strip() in markers:
                return None
            if strip:
                value = value.strip()
        key = canonical(value)
        if key in source_missing:
            return None
        for table in recodes:
            if key in table:
                value = table[key]
                key = canonical(value)
        return value

    before = series.notna()
    cleaned = _map_distinct(series.astype(object), clean)
    now_missing = before & cleaned.isna()
    report.values_marked_missing[column] += int(now_missing.sum())
    if recodes:
        keys = set().union(*recodes)
        report.values_recoded[column] += int(_map_distinct(series, lambda v: canonical(v) in keys).sum())
    return cleaned


def _coerce(series: pd.Series, column: str, spec: ColumnSpec, source: str, mapping: SourceMapping) -> pd.Series:
    present = series.notna()

    def fail(expected: str) -> HarmonizeError:
        # No count in the message: with a narrowed spec it would answer a count query on the private rows.
        return HarmonizeError(f"source {source!r}, column {column!r}: some values cannot be read as {expected} "
                              "(add them to missing markers or recodes, or widen the column's type)")

    if isinstance(spec, NumericColumn):
        numbers = pd.to_numeric(_map_distinct(series, canonical), errors="coerce").astype("float64")
        bad = int((present & numbers.isna()).sum())
        if bad:
            raise fail("a number")
        unit = mapping.units.get(column)
        if unit is not None:
            numbers = numbers * unit.scale + unit.offset
            if spec.type == "integer":
                numbers = numbers.round()
        if spec.type == "integer":
            fractional = int((numbers.notna() & (numbers != numbers.round())).sum())
            if fractional:
                raise fail("a whole number")
        return numbers
    if isinstance(spec, BooleanColumn):
        def to_bool(value: object) -> object:
            text = str(canonical(value)).lower()
            return True if text in _TRUE else False if text in _FALSE else "?invalid"
        flags = _map_distinct(series, to_bool)
        bad = int((flags == "?invalid").sum())
        if bad:
            raise fail("true/false")
        return flags
    if isinstance(spec, DatetimeColumn):
        # Only unambiguous text is read as a date: ISO 8601 unless the column declares its format. `05/01/2020`
        # is 5 January or 1 May depending on who wrote it; guessing would silently move dates by months.
        expected = (f"a date/time in the format {spec.format!r}" if spec.format else
                    "an ISO 8601 date/time, YYYY-MM-DD[THH:MM:SS] (or declare the column's format)")
        try:
            stamps = pd.to_datetime(series, errors="coerce", format=spec.format or "ISO8601")
        except (ValueError, TypeError, OverflowError):  # e.g. time zones mixed with naive times
            raise fail(expected) from None
        bad = int((present & stamps.isna()).sum())
        if bad:
            raise fail(expected)
        return stamps
    if isinstance(spec, CategoricalColumn):
        return _map_distinct(series, lambda v: str(canonical(v)))
    return _map_distinct(series, str)


def _harmonize_source(name: str, frame: pd.DataFrame, mapping: SourceMapping, spec: HarmonizeSpec, schema: Mapping[str, ColumnSpec], report: HarmonizeReport) -> pd.DataFrame:
    missing = sorted(set(mapping.rename) - set(map(str, frame.columns)))
    if missing:
        raise HarmonizeError(
            f"source {name!r} has no column(s) {', '.join(map(repr, missing))} named in harmonize.sources.{name}.rename "
            f"(it has: {', '.join(map(str, frame.columns))})"
        )
    frame = frame.rename(columns=str).rename(columns=mapping.rename)
    report.dropped_source_columns[name] = sorted(str(c) for c in frame.columns if c not in schema and c not in mapping.constants)
    out = {}
    for column, column_spec in schema.items():
        if column in mapping.constants:
            series = pd.Series([mapping.constants[column]] * len(frame), index=frame.index, dtype=object)
        elif column in frame.columns:
            series = frame[column]
            if _holds_nested(series):
                raise HarmonizeError(f"source {name!r}, column {column!r}: holds lists or structures, not single "
                                     "values (the schema column is scalar: flatten or drop it at the source)")
        elif column_spec.nullable:
            report.filled_missing_columns.setdefault(name, []).append(column)
            series = pd.Series([None] * len(frame), index=frame.index, dtype=object)
        else:
            raise HarmonizeError(
                f"source {name!r} provides no column for required schema column {column!r} "
                f"(rename a source column to it, set a constant, or make it nullable)"
            )
        cleaned = _apply_values(series, column, mapping, spec, spec.strip_whitespace, report)
        out[column] = _coerce(cleaned, column, column_spec, name, mapping)
    return pd.DataFrame(out, index=frame.index)


def _match_categories(series: pd.Series, spec: CategoricalColumn, case_insensitive: bool) -> pd.Series:
    lookup = {c: c for c in spec.categories}
    if case_insensitive:
        lookup.update({c.casefold(): c for c in spec.categories if c.casefold() not in lookup})
    return _map_distinct(series, lambda v: lookup.get(v, lookup.get(v.casefold()) if case_insensitive else None))


def _enforce_domain(table: pd.DataFrame, schema: Mapping[str, ColumnSpec], spec: HarmonizeSpec, report: HarmonizeReport) -> pd.DataFrame:
    reject = pd.Series(False, index=table.index)
    for column, column_spec in schema.items():
        values = table[column]
        outside = pd.Series(False, index=table.index)
        if isinstance(column_spec, CategoricalColumn) and column_spec.categories is not None:
            matched = _match_categories(values, column_spec, spec.case_insensitive_categories)
            outside = values.notna() & matched.isna()
            values = matched.where(~outside, values)
        elif isinstance(column_spec, (NumericColumn, DatetimeColumn)):
            low, high = column_spec.min, column_spec.max
            if isinstance(column_spec, DatetimeColumn):
                low, high = pd.Timestamp(low), pd.Timestamp(high)
            outside = values.notna() & ((values < low) | (values > high))
            if isinstance(column_spec, NumericColumn) and column_spec.values is not None:
                nearest, exact = nearest_points(values.to_numpy(dtype=np.float64, na_value=np.nan), column_spec.values)
                outside = values.notna() & ~pd.Series(exact, index=values.index)
                snapped = pd.Series(np.asarray(column_spec.values)[nearest], index=values.index)
                values = values.where(outside | values.isna(), snapped)  # 0.1 + 0.2 becomes the declared 0.3
        policy = column_spec.out_of_domain
        if outside.any():
            count = int(outside.sum())
            if isinstance(policy, MapTo):
                values = values.where(~outside, policy.map_to)
                report.out_of_domain[column]["mapped"] += count
            elif policy == "clip" and isinstance(column_spec, NumericColumn) and column_spec.values is not None:
                values = values.where(~outside, snapped)  # the nearest declared value
                report.out_of_domain[column]["clipped"] += count
            elif policy == "clip":
                values = values.clip(lower=low, upper=high)
                report.out_of_domain[column]["clipped"] += count
            elif policy == "null":
                values = values.where(~outside, None)
                report.out_of_domain[column]["nulled"] += count
            else:
                reject |= outside
                report.out_of_domain[column]["rejected"] += count
        if not column_spec.nullable:
            absent = values.isna()
            if absent.any() and isinstance(policy, MapTo):
                values = values.where(~absent, policy.map_to)
                report.out_of_domain[column]["missing_mapped"] += int(absent.sum())
            elif absent.any():
                reject |= absent & ~outside
                report.out_of_domain[column]["missing_rejected"] += int((absent & ~outside).sum())
        table[column] = values
    report.rows_rejected = int(reject.sum())
    return table[~reject]


def _final_dtypes(table: pd.DataFrame, schema: Mapping[str, ColumnSpec]) -> pd.DataFrame:
    typed = {}
    for column, spec in schema.items():
        values = table[column]
        if isinstance(spec, NumericColumn):
            typed[column] = values.astype("Int64" if spec.type == "integer" else "Float64")
        elif isinstance(spec, CategoricalColumn) and spec.categories is not None:
            typed[column] = pd.Categorical(values, categories=list(spec.categories))
        elif isinstance(spec, CategoricalColumn):  # levels to be estimated under DP later: plain text until then
            typed[column] = values.astype("string")
        elif isinstance(spec, BooleanColumn):
            typed[column] = values.astype("boolean")
        elif isinstance(spec, DatetimeColumn):
            typed[column] = pd.to_datetime(values)
        elif isinstance(spec, StringColumn):
            typed[column] = values.astype("string")
    return pd.DataFrame(typed, index=table.index).reset_index(drop=True)


def harmonize(
    frames: Mapping[str, pd.DataFrame], *, harmonize_spec: HarmonizeSpec, schema: Mapping[str, ColumnSpec]
) -> tuple[pd.DataFrame, HarmonizeReport]:
    """Map every source onto the schema, concatenate, enforce the public domain, de-duplicate."""
    report = HarmonizeReport()
    parts = []
    for name, frame in frames.items():
        report.rows_per_source[name] = len(frame)
        mapping = harmonize_spec.sources.get(name, SourceMapping())
        parts.append(_harmonize_source(name, frame, mapping, harmonize_spec, schema, report))
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(schema))
    table = _enforce_domain(table, schema, harmonize_spec, report)
    table = _final_dtypes(table, schema)
    if harmonize_spec.dedupe is not None:
        before = len(table)
        keys = list(harmonize_spec.dedupe.keys) if harmonize_spec.dedupe.keys else None
        table = table.drop_duplicates(subset=keys, keep=harmonize_spec.dedupe.keep, ignore_index=True)
        report.duplicates_removed = before - len(table)
    report.rows_out = len(table)
    if table.empty:
        raise HarmonizeError("no rows left after cleaning: check the schema's domain and the missing markers (the "
                             "run folder's harmonize report has the counts)")
    return table, report
