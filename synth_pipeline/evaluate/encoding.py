"""A mixed-type record metric on the PUBLIC domain, shared by the distance, membership, inference and audit checks.

Each record becomes a vector whose squared Euclidean distances are Gower-like:

    d^2(a, b) = sum over numeric columns of ((a - b) / (max - min))^2  +  number of categorical columns that differ

Numeric and datetime values are scaled by the column's declared bounds (never by statistics fitted on data) and
clipped into [0, 1]; a categorical column is one-hot with weight 1/sqrt(2), so a mismatch adds exactly 1. A missing
number sits mid-range with a null indicator of weight 1, so it differs from any present value by 1 to 1.25, like a
category mismatch. Distances are reported per column, d = sqrt(d^2 / columns), so 0 is identical and 1 differs in
everything. String columns have no domain, are never synthesized, and are left out.

Nearest neighbours are found by brute force in blocks (one matrix product per block): exact, and fast enough for
tens of thousands of rows because the cost is a BLAS call, not a Python loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from synth_pipeline.spec.schema import BooleanColumn, CategoricalColumn, ColumnSpec, DatetimeColumn, NumericColumn

_ONE_HOT = 1.0 / np.sqrt(2.0)
# Squared distances closer than this are equal: well above the rounding error of |a|^2 + |b|^2 - 2ab on vectors of
# norm below ~40, and below any difference that matters (one unit of a column whose range is 10^5 is 10^-10).
TIE_TOLERANCE = 1e-10
_BLOCK_ENTRIES = 4_000_000  # distances held at once: 32 MB of float64


def domain_columns(schema: Mapping[str, ColumnSpec]) -> list[str]:
    """The columns a synthetic table holds: every declared column but free text."""
    return [name for name, spec in schema.items()
            if isinstance(spec, (NumericColumn, CategoricalColumn, BooleanColumn, DatetimeColumn))]


def category_levels(spec: ColumnSpec, column: str, synthetic: pd.DataFrame) -> list[str]:
    """Public levels of a categorical or boolean column: the declared ones, or (levels estimated under DP) the ones
    the synthetic table holds, which is DP output. Never read off a real table."""
    if isinstance(spec, BooleanColumn):
        return ["False", "True"]
    if spec.categories is not None:
        return list(spec.categories)
    return sorted(set(synthetic[column].dropna().astype(str)))


def numeric_values(series: pd.Series, spec: ColumnSpec) -> np.ndarray:
    """float64 with NaN for missing; datetimes as seconds since the epoch."""
    if isinstance(spec, DatetimeColumn):
        stamps = pd.to_datetime(series)
        seconds = stamps.astype("datetime64[s]").to_numpy(dtype="datetime64[s]").astype(np.int64).astype(np.float64)
        seconds[stamps.isna().to_numpy()] = np.nan
        return seconds
    return pd.to_numeric(series.astype("Float64")).to_numpy(dtype=np.float64, na_value=np.nan)


def public_bounds(spec: NumericColumn | DatetimeColumn) -> tuple[float, float]:
    if isinstance(spec, DatetimeColumn):
        return pd.Timestamp(spec.min).timestamp(), pd.Timestamp(spec.max).timestamp()
    return float(spec.min), float(spec.max)


def category_codes(series: pd.Series, spec: ColumnSpec, levels: Sequence[str]) -> np.ndarray:
    """Index into `levels`; len(levels) for missing, len(levels) + 1 for a label outside them."""
    # The distinct values are few: each is turned into text and looked up once, and the rows take their value's
    # code (a per-row string conversion was most of this function's time on a million rows).
    rows, distinct = pd.factorize(series, use_na_sentinel=True)
    text = pd.Series(distinct, dtype=object).astype("string")
    if isinstance(spec, BooleanColumn):
        text = text.str.capitalize()  # booleans and their text ("true", "True") alike
    lookup = {level: k for k, level in enumerate(levels)}
    mapped = text.map(lookup).to_numpy(dtype=np.float64, na_value=np.nan)
    per_value = np.append(np.where(np.isnan(mapped), len(levels) + 1, np.nan_to_num(mapped)).astype(np.int64),
                          len(levels))  # the last entry is for missing rows (factorize's -1)
    return per_value[rows]


@dataclass(frozen=True)
class _Block:
    column: str
    start: int
    width: int


class MixedEncoder:
    """Records -> vectors for the metric above. Built from the released schema and, for levels estimated under DP,
    the synthetic table."""

    def __init__(self, schema: Mapping[str, ColumnSpec], levels: Mapping[str, Sequence[str]]):
        self.schema = {name: schema[name] for name in domain_columns(schema)}
        self.levels = {name: list(levels[name]) for name in self.schema if name in levels}
        self._blocks: dict[str, _Block] = {}
        start = 0
        for name, spec in self.schema.items():
            width = 2 if isinstance(spec, (NumericColumn, DatetimeColumn)) else len(self.levels[name]) + 2
            self._blocks[name] = _Block(name, start, width)
            start += width
        self.width = start

    @classmethod
    def for_release(cls, schema: Mapping[str, ColumnSpec], synthetic: pd.DataFrame) -> MixedEncoder:
        levels = {name: category_levels(spec, name, synthetic) for name, spec in schema.items()
                  if isinstance(spec, (CategoricalColumn, BooleanColumn))}
        return cls(schema, levels)

    @property
    def columns(self) -> list[str]:
        return list(self.schema)

    def encode(self, frame: pd.DataFrame, columns: Sequence[str] | None = None) -> np.ndarray:
        chosen = list(columns) if columns is not None else self.columns
        parts = []
        for name in chosen:
            spec = self.schema[name]
            if isinstance(spec, (NumericColumn, DatetimeColumn)):
                low, high = public_bounds(spec)
                values = numeric_values(frame[name], spec)
                missing = np.isnan(values)
                scaled = np.clip((values - low) / (high - low), 0.0, 1.0) if high > low else np.zeros(len(values))
                parts.append(np.column_stack([np.where(missing, 0.5, scaled), missing.astype(np.float64)]))
            else:
                width = self._blocks[name].width
                codes = category_codes(frame[name], spec, self.levels[name])
                one_hot = np.zeros((len(frame), width))
                one_hot[np.arange(len(frame)), codes] = _ONE_HOT
                parts.append(one_hot)
        return np.hstack(parts) if parts else np.zeros((len(frame), 0))


@dataclass(frozen=True)
class Neighbours:
    """Per query: the k smallest squared distances (ascending) and how many candidates tie with the smallest."""

    squared: np.ndarray  # (queries, k)
    ties: np.ndarray  # (queries,)

    def distance(self, rank: int, columns: int) -> np.ndarray:
        """Per-column distance to the neighbour of this rank (0 = nearest)."""
        return np.sqrt(self.squared[:, rank] / max(columns, 1))


def _distance_blocks(queries: np.ndarray, candidates: np.ndarray):
    """(first query row, squared distances of a block of queries to every candidate), a block at a time."""
    candidate_norms = np.einsum("ij,ij->i", candidates, candidates)
    block = max(1, _BLOCK_ENTRIES // max(len(candidates), 1))
    for start in range(0, len(queries), block):
        chunk = queries[start:start + block]
        distances = np.einsum("ij,ij->i", chunk, chunk)[:, None] + candidate_norms[None, :] - 2.0 * chunk @ candidates.T
        yield start, np.maximum(distances, 0.0, out=distances)


def nearest(queries: np.ndarray, candidates: np.ndarray, *, k: int = 1) -> Neighbours:
    """Exact k nearest candidates of every query row under squared Euclidean distance."""
    if len(candidates) < k:
        raise ValueError(f"need at least {k} candidate rows, got {len(candidates)}")
    squared = np.empty((len(queries), k))
    ties = np.empty(len(queries), dtype=np.int64)
    for start, distances in _distance_blocks(queries, candidates):
        smallest = np.partition(distances, k - 1, axis=1)[:, :k] if k < distances.shape[1] else distances
        smallest = np.sort(smallest, axis=1)[:, :k]
        squared[start:start + len(distances)] = smallest
        ties[start:start + len(distances)] = (distances <= smallest[:, :1] + TIE_TOLERANCE).sum(axis=1)
    return Neighbours(squared=squared, ties=ties)


def nearest_index(queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Row index of every query's nearest candidate (the first one on ties)."""
    if len(candidates) == 0:
        raise ValueError("need at least 1 candidate row")
    best = np.empty(len(queries), dtype=np.int64)
    for start, distances in _distance_blocks(queries, candidates):
        best[start:start + len(distances)] = np.argmin(distances, axis=1)
    return best


def row_keys(frame: pd.DataFrame, encoder: MixedEncoder) -> np.ndarray:
    """A 64-bit hash per row of its modelled values, for exact-match counting (equal rows, equal keys)."""
    normalised = {}
    for name, spec in encoder.schema.items():
        if isinstance(spec, (NumericColumn, DatetimeColumn)):
            normalised[name] = numeric_values(frame[name], spec)
        else:
            normalised[name] = category_codes(frame[name], spec, encoder.levels[name])
    return pd.util.hash_pandas_object(pd.DataFrame(normalised), index=False).to_numpy()
