"""Workload utility: the analysts' queries, coverage of rare categories and tails, and per-column distributions.

Real figures are aggregates (counts, shares, means) and never a row or a raw value:
- group labels are declared categories, public bins of the declared bounds, or levels the synthetic table holds (DP
  output); a real label outside all of those is counted as "(other)", never named;
- a group with fewer than `min_group_rows` real rows shows no real figure (a mean over one row is that person's
  value): small-cell suppression, as statistical offices apply it;
- tails are described by shares only: the real 1st and 99th percentiles are used as cut points and not reported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from synth_pipeline.domain import nearest_points
from synth_pipeline.errors import ConfigError
from synth_pipeline.evaluate.encoding import (
    category_codes,
    category_levels,
    domain_columns,
    numeric_values,
    public_bounds,
)
from synth_pipeline.spec.evaluation import Query
from synth_pipeline.spec.schema import BooleanColumn, CategoricalColumn, ColumnSpec, DatetimeColumn, NumericColumn

OTHER, MISSING = "(other)", "(missing)"


def public_bins(spec: NumericColumn | DatetimeColumn, bins: int) -> tuple[np.ndarray, list[str]]:
    """Bin edges (bin k is [edges[k], edges[k+1])) and labels: the column's declared bin_edges, else about `bins`
    equal-width bins on its declared bounds, whole numbers for an integer column ("[17, 21]", or one per value)."""
    low, high = public_bounds(spec)
    declared = getattr(spec, "bin_edges", None)
    if declared is not None:
        edges = np.asarray(declared, dtype=np.float64)
        return edges, _interval_labels([f"{edge:g}" for edge in edges])
    if isinstance(spec, NumericColumn) and spec.type == "integer":
        width = max(1, math.ceil((high - low + 1) / bins))
        starts = np.arange(low, high + 1, width)
        edges = np.append(starts, high + 1)
        labels = [f"{a:g}" if width == 1 else f"[{a:g}, {min(a + width, high + 1) - 1:g}]" for a in starts]
        return edges, labels
    edges = np.linspace(low, high, bins + 1)
    if isinstance(spec, DatetimeColumn):
        labels = [pd.Timestamp(edge, unit="s").date().isoformat() for edge in edges]
    else:
        labels = [f"{edge:g}" for edge in edges]
    return edges, _interval_labels(labels)


def _interval_labels(edges: list[str]) -> list[str]:
    """[e0, e1), ..., [e(n-1), en]: the last bin is closed, so the declared maximum has one."""
    pairs = list(zip(edges, edges[1:]))
    return [f"[{a}, {b}{']' if k == len(pairs) - 1 else ')'}" for k, (a, b) in enumerate(pairs)]


def _cells(series: pd.Series, spec: ColumnSpec, levels: Sequence[str] | None,
           bins: int) -> tuple[np.ndarray, list[str]]:
    """A cell per row and the cell labels; the last two cells are (other) and (missing)."""
    if isinstance(spec, (CategoricalColumn, BooleanColumn)):
        codes = category_codes(series, spec, levels)  # len(levels) = missing, len + 1 = other
        codes = np.where(codes == len(levels), len(levels) + 1, np.where(codes == len(levels) + 1, len(levels), codes))
        return codes, [*levels, OTHER, MISSING]
    return numeric_cells(series, spec, bins)


def numeric_cells(series: pd.Series, spec: NumericColumn | DatetimeColumn, bins: int) -> tuple[np.ndarray, list[str]]:
    """The public grid of a numeric or datetime column, shared by the TVDs and the report's plots: declared values
    one cell each, declared atoms one cell each ahead of the bins, `public_bins` otherwise; a cell per row and the
    labels, the last two cells (other) and (missing)."""
    values = numeric_values(series, spec)
    if isinstance(spec, NumericColumn) and spec.values is not None:  # one cell per declared value
        nearest, exact = nearest_points(values, spec.values)
        labels = [f"{value:g}" for value in spec.values]
        return np.where(np.isnan(values), len(labels) + 1, np.where(exact, nearest, len(labels))), [
            *labels, OTHER, MISSING]
    edges, labels = public_bins(spec, bins)
    low, high = public_bounds(spec)
    inside = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(labels) - 1)
    outside = ~np.isnan(values) & ((values < low) | (values > high))
    atoms = spec.atoms if isinstance(spec, NumericColumn) and spec.atoms else ()
    if atoms:  # each atom a cell of its own, ahead of the bins (which then hold the other values)
        nearest, exact = nearest_points(values, atoms)
        inside = np.where(exact, nearest, len(atoms) + inside)
        labels = [*(f"= {atom:g}" for atom in atoms), *labels]
    codes = np.where(np.isnan(values), len(labels) + 1, np.where(outside, len(labels), inside))
    return codes, [*labels, OTHER, MISSING]


def _levels(schema: Mapping[str, ColumnSpec], synthetic: pd.DataFrame) -> dict[str, list[str]]:
    return {name: category_levels(spec, name, synthetic) for name, spec in schema.items()
            if isinstance(spec, (CategoricalColumn, BooleanColumn))}


def column_distributions(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Mapping[str, ColumnSpec], *,
                         bins: int = 16) -> dict:
    """Per column: cell labels with the real and synthetic share of rows in each (for the report's plots)."""
    levels = _levels(schema, synthetic)
    result = {}
    for name in domain_columns(schema):
        spec = schema[name]
        real_cells, labels = _cells(real[name], spec, levels.get(name), bins)
        synthetic_cells, _ = _cells(synthetic[name], spec, levels.get(name), bins)
        real_share, synthetic_share = (np.bincount(cells, minlength=len(labels)) / max(len(cells), 1)
                                       for cells in (real_cells, synthetic_cells))
        result[name] = {"type": spec.type, "labels": labels, "real": real_share.tolist(),
                        "synthetic": synthetic_share.tolist()}
    return result


def category_coverage(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Mapping[str, ColumnSpec], *,
                      under_ratio: float) -> dict:
    """Per categorical column: real categories the synthetic table lacks, and those it holds at less than
    `under_ratio` times their real share."""
    levels = _levels(schema, synthetic)
    result = {}
    for name, column_levels in levels.items():
        spec = schema[name]
        counts = [np.bincount(category_codes(table[name], spec, column_levels), minlength=len(column_levels) + 2)
                  for table in (real, synthetic)]
        real_share, synthetic_share = (c / max(c.sum(), 1) for c in counts)
        missing, under = [], []
        for k, level in enumerate(column_levels):
            if counts[0][k] == 0:
                continue
            entry = {"category": level, "real_share": float(real_share[k]),
                     "synthetic_share": float(synthetic_share[k])}
            if counts[1][k] == 0:
                missing.append(entry)
            elif synthetic_share[k] < under_ratio * real_share[k]:
                under.append(entry)
        result[name] = {"categories": len(column_levels), "missing": missing, "under_represented": under,
                        "real_rows_outside_levels": int(counts[0][len(column_levels) + 1])}
    return result


def tail_coverage(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Mapping[str, ColumnSpec], *,
                  tail: float) -> dict:
    """Per numeric column: the share of rows below the real `tail` quantile and above the real 1 - `tail` one, in
    both tables (a generator that smooths outliers away shows far smaller synthetic shares)."""
    result = {}
    for name in domain_columns(schema):
        spec = schema[name]
        if not isinstance(spec, (NumericColumn, DatetimeColumn)):
            continue
        real_values, synthetic_values = (values[~np.isnan(values)] for values in
                                         (numeric_values(real[name], spec), numeric_values(synthetic[name], spec)))
        if len(real_values) == 0 or len(synthetic_values) == 0:
            continue
        low, high = np.quantile(real_values, [tail, 1 - tail])
        result[name] = {"real_below": float((real_values < low).mean()),
                        "synthetic_below": float((synthetic_values < low).mean()),
                        "real_above": float((real_values > high).mean()),
                        "synthetic_above": float((synthetic_values > high).mean())}
    return result


def _group_labels(table: pd.DataFrame, group_by: Sequence[str], schema, levels, bins) -> pd.Series:
    if not group_by:
        return pd.Series(["(all rows)"] * len(table), index=table.index)
    parts = []
    for name in group_by:
        cells, labels = _cells(table[name], schema[name], levels.get(name), bins)
        parts.append(np.asarray(labels, dtype=object)[cells])
    joined = parts[0] if len(parts) == 1 else [" | ".join(items) for items in zip(*parts)]
    return pd.Series(joined, index=table.index)


def _statistic(table: pd.DataFrame, query: Query, schema) -> pd.Series:
    """Per row: the quantity the query averages (1 for count, the value for mean, the indicator for share)."""
    if query.metric == "count":
        return pd.Series(1.0, index=table.index)
    spec = schema[query.column]
    if query.metric == "mean":
        if isinstance(spec, CategoricalColumn):
            raise ConfigError(f"evaluation.queries.{query.name}: the mean of categorical column {query.column!r}")
        return pd.Series(numeric_values(table[query.column], spec), index=table.index)
    series = table[query.column]
    if isinstance(spec, (NumericColumn, BooleanColumn)):
        matches = pd.to_numeric(series.astype("Float64")) == float(query.value)
    else:
        matches = series.astype("string") == str(query.value)
    return matches.astype("Float64").fillna(0.0).astype(np.float64).where(series.notna(), np.nan)


def query_errors(real: pd.DataFrame, synthetic: pd.DataFrame, queries: Sequence[Query],
                 schema: Mapping[str, ColumnSpec], *, min_group_rows: int, bins: int = 16) -> list[dict]:
    """Each query per group: real and synthetic answers and the relative error |syn - real| / |real|. Counts are
    compared scaled to the real table's size (the two tables differ in rows)."""
    levels = _levels(schema, synthetic)
    results = []
    for query in queries:
        answers = {}
        for side, table in (("real", real), ("synthetic", synthetic)):
            frame = pd.DataFrame({"group": _group_labels(table, query.group_by, schema, levels, bins),
                                  "value": _statistic(table, query, schema)})
            grouped = frame.groupby("group", sort=True)["value"]
            answers[side] = (grouped.size(), grouped.sum() if query.metric == "count" else grouped.mean())
        scale = len(real) / max(len(synthetic), 1)
        groups, suppressed = [], 0
        for group in sorted(set(answers["real"][0].index) | set(answers["synthetic"][0].index)):
            real_rows = int(answers["real"][0].get(group, 0))
            synthetic_rows = int(answers["synthetic"][0].get(group, 0))
            synthetic_value = answers["synthetic"][1].get(group)
            if query.metric == "count":
                synthetic_value = synthetic_rows * scale
            synthetic_value = None if synthetic_value is None or pd.isna(synthetic_value) else float(synthetic_value)
            if 0 < real_rows < min_group_rows:
                suppressed += 1
                groups.append({"group": group, "real": None, "synthetic": synthetic_value, "suppressed": True})
                continue
            real_value = answers["real"][1].get(group) if real_rows else None
            real_value = None if real_value is None or pd.isna(real_value) else float(real_value)
            error = None
            if real_value not in (None, 0.0) and synthetic_value is not None:
                error = abs(synthetic_value - real_value) / abs(real_value)
            groups.append({"group": group, "real": real_value, "synthetic": synthetic_value, "relative_error": error,
                           "missing_in_synthetic": real_rows > 0 and synthetic_rows == 0})
        errors = [g["relative_error"] for g in groups if g.get("relative_error") is not None]
        results.append({
            "name": query.name, "metric": query.metric, "column": query.column, "group_by": list(query.group_by),
            "mean_relative_error": float(np.mean(errors)) if errors else None,
            "max_relative_error": float(np.max(errors)) if errors else None,
            "groups_missing_in_synthetic": sum(bool(g.get("missing_in_synthetic")) for g in groups),
            "groups_suppressed": suppressed, "groups": groups,
        })
    return results
