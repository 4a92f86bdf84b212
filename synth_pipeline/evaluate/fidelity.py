"""Marginal fidelity: how far a synthetic table's low-order marginals are from the real table's.

The distance is the total variation distance (half the L1 distance between the two normalised histograms) of a set
of columns' joint distribution, averaged over sets. Numeric and datetime columns are cut on the PUBLIC grid the
report's plots use (`workload.numeric_cells`, never the data): declared values and atoms a cell each, the declared
`bin_edges` or about `bins` equal-width bins on the declared bounds (whole numbers for an integer column), a cell for
values outside the bounds and one for nulls; categorical and boolean columns keep their levels. String columns are
not synthesized and are left out.

This is an internal comparison of real and synthetic data: it goes to the steward, never into a release.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from synth_pipeline.evaluate.workload import numeric_cells
from synth_pipeline.spec.schema import (
    BooleanColumn,
    CategoricalColumn,
    ColumnSpec,
    DatetimeColumn,
    NumericColumn,
    StringColumn,
)


TVD_BINS = 16  # equal-width bins for a wide numeric column without declared cut points


def _column_cells(series: pd.Series, spec: ColumnSpec, bins: int, levels: list[str] | None) -> tuple[np.ndarray, int]:
    """Cell index per row and the number of cells (the last one is null)."""
    if isinstance(spec, (NumericColumn, DatetimeColumn)):
        cells, labels = numeric_cells(series, spec, bins)  # its own (other) and (missing) cells, null the last
        return cells, len(labels)
    null = series.isna().to_numpy()
    if isinstance(spec, BooleanColumn):
        cells, size = np.where(null, 0, series.astype("boolean").fillna(False).to_numpy(dtype=np.int64)), 2
    else:
        lookup = {level: k for k, level in enumerate(levels)}
        mapped = series.astype("string").map(lookup).to_numpy(dtype=np.float64, na_value=np.nan)
        # A value outside the levels (possible only in a broken table) gets its own cell, so it counts as a miss.
        cells = np.where(np.isnan(mapped), len(levels), np.nan_to_num(mapped, nan=0)).astype(np.int64)
        size = len(levels) + 1
    return np.where(null, size, cells), size + 1


def _levels(spec: ColumnSpec, column: str, tables: tuple[pd.DataFrame, ...]) -> list[str] | None:
    if not isinstance(spec, CategoricalColumn):
        return None
    if spec.categories is not None:
        return list(spec.categories)
    # No declared levels: this internal comparison may use the union of what both tables hold.
    seen = set()
    for table in tables:
        seen |= set(table[column].dropna().astype(str))
    return sorted(seen)


def discretize(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Mapping[str, ColumnSpec], *,
               bins: int) -> tuple[list[str], np.ndarray, np.ndarray, list[int]]:
    """Cell codes of both tables on the same grid: (columns, real codes, synthetic codes, cells per column)."""
    columns = [name for name, spec in schema.items() if not isinstance(spec, StringColumn)]
    real_codes, synthetic_codes, sizes = [], [], []
    for name in columns:
        levels = _levels(schema[name], name, (real, synthetic))
        real_cells, size = _column_cells(real[name], schema[name], bins, levels)
        synthetic_cells, _ = _column_cells(synthetic[name], schema[name], bins, levels)
        real_codes.append(real_cells)
        synthetic_codes.append(synthetic_cells)
        sizes.append(size)
    # Column-major, so that a marginal reads its columns in place (a row-major array copied every chosen set's
    # columns out of every row: most of validate's time on a million rows).
    return (columns, np.asfortranarray(np.stack(real_codes, axis=1)),
            np.asfortranarray(np.stack(synthetic_codes, axis=1)), sizes)


def _histogram(columns: tuple[np.ndarray, ...], sizes: list[int], *, floor: float = 1.0) -> np.ndarray:
    flat = np.ravel_multi_index(columns, tuple(sizes))
    counts = np.bincount(flat, minlength=math.prod(sizes)).astype(np.float64)
    return counts / max(counts.sum(), floor, 1.0)


def marginal_tvds(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Mapping[str, ColumnSpec], *, ways: int,
                  bins: int = TVD_BINS, max_sets: int | None = None, rng: np.random.Generator | None = None,
                  real_rows_floor: float = 0.0, only: list[tuple[str, ...]] | None = None,
                  grid: tuple[list[str], np.ndarray, np.ndarray, list[int]] | None = None,
                  ) -> dict[tuple[str, ...], float]:
    """TVD per set of `ways` columns: all sets, or `max_sets` drawn at random (with `rng`) when there are more, or
    exactly the sets `only` names (another table's figures on the same marginals).

    The real histogram is divided by max(real rows, `real_rows_floor`), a public floor, not by the private row count
    alone. Then adding or removing one individual's k rows moves each real histogram by at most 2k / floor in L1
    and each TVD, and their mean, by at most k / floor: the sensitivity the release decision states
    (`synth_pipeline.privacy.decision`). Where the table is at least the floor this is the plain TVD; below it the
    real histogram sums to less than one and the TVD reads larger, never smaller.

    `grid`: these two tables' `discretize` output, when the caller computes several orders on them (the cells are
    the same for every order; discretizing is a pass over every row)."""
    columns, real_codes, synthetic_codes, sizes = grid or discretize(real, synthetic, schema, bins=bins)
    sets = list(itertools.combinations(range(len(columns)), ways))
    if only is not None:
        position = {name: i for i, name in enumerate(columns)}
        sets = [tuple(position[name] for name in chosen) for chosen in only]
    elif max_sets is not None and len(sets) > max_sets:
        if rng is None:
            raise ValueError("drawing a subset of marginals needs an rng")
        sets = [sets[i] for i in sorted(rng.choice(len(sets), size=max_sets, replace=False))]
    result = {}
    for chosen in sets:
        chosen_sizes = [sizes[i] for i in chosen]
        p = _histogram(tuple(real_codes[:, i] for i in chosen), chosen_sizes, floor=real_rows_floor)
        q = _histogram(tuple(synthetic_codes[:, i] for i in chosen), chosen_sizes)
        result[tuple(columns[i] for i in chosen)] = 0.5 * float(np.abs(p - q).sum())
    return result


def marginal_tvd(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Mapping[str, ColumnSpec], *, ways: int,
                 bins: int = TVD_BINS, max_sets: int | None = None, rng: np.random.Generator | None = None) -> float:
    """Mean TVD over all `ways`-column marginals (or `max_sets` random ones): 0 identical, 1 disjoint."""
    tvds = marginal_tvds(real, synthetic, schema, ways=ways, bins=bins, max_sets=max_sets, rng=rng)
    return float(np.mean(list(tvds.values()))) if tvds else 0.0
