"""Pairwise association, real against synthetic: does the synthetic table keep how columns go together?

Per pair of columns, one measure on [0, 1] (or [-1, 1]) suited to their types:
- numeric and numeric: Pearson's r and Spearman's rho (rank correlation, robust to the heavy tails of e.g. capital
  gains); datetimes count as numbers;
- categorical and categorical: Cramer's V, sqrt(chi^2 / (n (min(r, c) - 1))) (Cramer 1946), missing as a level;
- categorical and numeric: the correlation ratio eta, the share of the number's variance explained by the categories
  (sqrt of between-group over total sum of squares; Pearson 1905).
The difference is |real - synthetic| per pair; the summary is its mean and maximum per kind of pair and overall.
A pair whose measure is undefined on either table (a constant column) is reported as null and left out of the means.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np
import pandas as pd

from synth_pipeline.evaluate.encoding import category_codes, category_levels, domain_columns, numeric_values
from synth_pipeline.spec.schema import BooleanColumn, CategoricalColumn, ColumnSpec


def _is_categorical(spec: ColumnSpec) -> bool:
    return isinstance(spec, (CategoricalColumn, BooleanColumn))


def _pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    keep = ~np.isnan(x) & ~np.isnan(y)
    if keep.sum() < 2:
        return None
    x, y = x[keep] - x[keep].mean(), y[keep] - y[keep].mean()
    denominator = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denominator) if denominator > 0 else None


def _ranks(values: np.ndarray) -> np.ndarray:
    return pd.Series(values).rank(method="average").to_numpy(dtype=np.float64)


def _spearman(x: np.ndarray, y: np.ndarray, x_ranks: np.ndarray | None = None,
              y_ranks: np.ndarray | None = None) -> float | None:
    """Pearson's r of the ranks, ranked on the rows where both are present. `x_ranks`, `y_ranks`: the ranks of a
    column without nulls (the same in every pair it is in), computed once by the caller."""
    if x_ranks is not None and y_ranks is not None:
        return _pearson(x_ranks, y_ranks)
    keep = ~np.isnan(x) & ~np.isnan(y)
    return _pearson(*(_ranks(v[keep]) for v in (x, y)))


def _compact(codes: np.ndarray) -> np.ndarray:
    """Integer codes renumbered 0..k-1 over the codes present, in order: `np.unique(codes, return_inverse=True)[1]`
    by counting instead of sorting (linear in the rows; the sort was most of validate's time on a million rows)."""
    if len(codes) == 0:
        return codes.astype(np.int64)
    shifted = codes.astype(np.int64) - codes.min()
    present = np.bincount(shifted) > 0
    return (np.cumsum(present) - 1)[shifted]


def cramers_v(a: np.ndarray, b: np.ndarray) -> float | None:
    """Cramer's V of two integer code arrays."""
    a, b = _compact(a), _compact(b)
    rows, columns = a.max(initial=-1) + 1, b.max(initial=-1) + 1
    if rows < 2 or columns < 2:
        return None
    table = np.bincount(a * columns + b, minlength=rows * columns).reshape(rows, columns).astype(np.float64)
    n = table.sum()
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return float(np.sqrt(chi2 / (n * (min(rows, columns) - 1))))


def correlation_ratio(codes: np.ndarray, values: np.ndarray) -> float | None:
    """eta of a number given a category: sqrt(between-group SS / total SS), on rows where the number is present."""
    keep = ~np.isnan(values)
    codes, values = codes[keep], values[keep]
    if len(values) < 2:
        return None
    codes = _compact(codes)
    total = ((values - values.mean()) ** 2).sum()
    if total == 0:
        return None
    counts = np.bincount(codes)
    means = np.bincount(codes, weights=values) / np.maximum(counts, 1)
    between = (counts * (means - values.mean()) ** 2).sum()
    return float(np.sqrt(between / total))


def _prepared(table: pd.DataFrame, schema: Mapping[str, ColumnSpec], levels: Mapping[str, list[str]]) -> dict:
    prepared = {}
    for name in domain_columns(schema):
        spec = schema[name]
        if _is_categorical(spec):
            prepared[name] = category_codes(table[name], spec, levels[name])
        else:
            prepared[name] = numeric_values(table[name], spec)
    return prepared


def _measures(prepared: dict, ranks: Mapping[str, np.ndarray], schema: Mapping[str, ColumnSpec], a: str,
              b: str) -> dict[str, float | None]:
    categorical_a, categorical_b = _is_categorical(schema[a]), _is_categorical(schema[b])
    if categorical_a and categorical_b:
        return {"cramers_v": cramers_v(prepared[a], prepared[b])}
    if categorical_a or categorical_b:
        codes, values = (prepared[a], prepared[b]) if categorical_a else (prepared[b], prepared[a])
        return {"correlation_ratio": correlation_ratio(codes, values)}
    return {"pearson": _pearson(prepared[a], prepared[b]),
            "spearman": _spearman(prepared[a], prepared[b], ranks.get(a), ranks.get(b))}


def _null_free_ranks(prepared: dict, schema: Mapping[str, ColumnSpec]) -> dict[str, np.ndarray]:
    """Each numeric column's ranks where it has no nulls: one sort per column instead of one per pair."""
    return {name: _ranks(values) for name, values in prepared.items()
            if not _is_categorical(schema[name]) and not np.isnan(values).any()}


def association_difference(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Mapping[str, ColumnSpec]) -> dict:
    """Per pair and measure: real, synthetic, |difference|; and the mean and max difference per measure."""
    columns = domain_columns(schema)
    levels = {name: category_levels(schema[name], name, synthetic) for name in columns if _is_categorical(schema[name])}
    prepared_real, prepared_synthetic = _prepared(real, schema, levels), _prepared(synthetic, schema, levels)
    ranks_real, ranks_synthetic = _null_free_ranks(prepared_real, schema), _null_free_ranks(prepared_synthetic, schema)
    pairs, by_measure = [], {}
    for a, b in itertools.combinations(columns, 2):
        real_measures = _measures(prepared_real, ranks_real, schema, a, b)
        synthetic_measures = _measures(prepared_synthetic, ranks_synthetic, schema, a, b)
        for measure, real_value in real_measures.items():
            synthetic_value = synthetic_measures[measure]
            difference = None if real_value is None or synthetic_value is None else abs(real_value - synthetic_value)
            pairs.append({"columns": [a, b], "measure": measure, "real": real_value, "synthetic": synthetic_value,
                          "difference": difference})
            if difference is not None:
                by_measure.setdefault(measure, []).append(difference)
    every = [d for values in by_measure.values() for d in values]
    summary = {measure: {"mean": float(np.mean(values)), "max": float(np.max(values)), "pairs": len(values)}
               for measure, values in sorted(by_measure.items())}
    return {
        "mean_difference": float(np.mean(every)) if every else None,
        "max_difference": float(np.max(every)) if every else None,
        "by_measure": summary,
        "pairs": pairs,
    }
