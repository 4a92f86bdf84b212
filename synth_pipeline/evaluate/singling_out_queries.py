"""Anonymeter's multivariate singling-out queries, found faster.

The attack is Anonymeter's own (`multivariate_singling_out_queries`): draw a synthetic record and `n_cols` of its
columns at random, and make a predicate from them: equality on a text or boolean value, `>=` on a number above the
column's median and `<=` on one at or below it (the more extreme side, where singling out is likelier), `is null` on
a missing value. Keep the predicate when exactly one synthetic row satisfies it, and not twice.

Anonymeter evaluates every drawn predicate on the whole synthetic table. On Adult about one in 400 singles out, so
1,000 queries take 400,000 evaluations over 39,000 rows: most of the evaluation step's time. Here each batch is first
evaluated on a random sample of the rows: a predicate that two sampled rows satisfy matches two rows of the table and
cannot single out, so it is dropped without a full evaluation. The screen only drops predicates that provably fail,
so the accepted ones are those Anonymeter would accept from the same draws: each is built with Anonymeter's
`_query_from_record` and kept only when Anonymeter's `_evaluate_queries` counts one match, so the downstream attack
evaluates the very expressions Anonymeter would.
"""

from __future__ import annotations

import numpy as np

EQUAL, AT_LEAST, AT_MOST, MISSING = range(4)


def _column_arrays(df) -> tuple[np.ndarray, np.ndarray, dict]:
    """(values as float64, columns x rows; which columns are compared by order; the medians Anonymeter uses)."""
    import polars as pl

    medians = df.median().to_dicts()[0]
    ordered = np.array([df[c].dtype.is_numeric() and df[c].dtype != pl.Boolean for c in df.columns])
    rows = []
    for column, by_order in zip(df.columns, ordered):
        series = df[column]
        if by_order:
            rows.append(series.cast(pl.Float64).fill_null(np.nan).to_numpy())
        else:  # equality only: any consistent code will do, with nulls kept apart as NaN
            codes = series.cast(pl.String).rank("dense").cast(pl.Float64).fill_null(np.nan).to_numpy()
            rows.append(codes)
    return np.vstack(rows), ordered, medians


def _matches(values: np.ndarray, columns: np.ndarray, targets: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """Rows (of `values`, columns x rows) satisfying each predicate: a (predicates, rows) boolean array."""
    matched = np.ones((len(columns), values.shape[1]), dtype=bool)
    for position in range(columns.shape[1]):
        for kind in (EQUAL, AT_LEAST, AT_MOST, MISSING):
            rows = np.flatnonzero(kinds[:, position] == kind)
            if not len(rows):
                continue
            data, target = values[columns[rows, position]], targets[rows, position, None]
            if kind == EQUAL:
                matched[rows] &= data == target
            elif kind == AT_LEAST:
                matched[rows] &= data >= target
            elif kind == AT_MOST:
                matched[rows] &= data <= target
            else:
                matched[rows] &= np.isnan(data)
    return matched


def singling_out_queries(df, *, n_queries: int, n_cols: int, max_attempts: int, rng: np.random.Generator,
                         batch_size: int = 1000, screen_rows: int = 1000) -> list:
    """Up to `n_queries` distinct polars predicates on `n_cols` columns that each match exactly one row of `df`,
    from at most `max_attempts` drawn records (Anonymeter's attack; see the module docstring)."""
    from anonymeter.evaluators.singling_out_evaluator import _evaluate_queries, _query_from_record

    if df.height == 0 or n_queries <= 0:
        return []
    values, ordered, medians = _column_arrays(df)
    median_row = np.array([medians[c] if by_order and medians[c] is not None else np.nan
                           for c, by_order in zip(df.columns, ordered)], dtype=np.float64)
    screen = values[:, rng.choice(df.height, size=min(screen_rows, df.height), replace=False)]
    dtypes = {c: df[c].dtype for c in df.columns}
    accepted, seen, attempts = [], set(), 0
    while len(accepted) < n_queries and attempts < max_attempts:
        size = min(batch_size, max_attempts - attempts)
        records = rng.integers(0, df.height, size=size)
        columns = np.argsort(rng.random((size, len(df.columns))), axis=1)[:, :n_cols]
        columns.sort(axis=1)  # Anonymeter orders a predicate's columns by name; any fixed order identifies it
        targets = values[columns, records[:, None]]
        kinds = np.where(ordered[columns], np.where(targets > median_row[columns], AT_LEAST, AT_MOST), EQUAL)
        kinds = np.where(np.isnan(targets), MISSING, kinds)
        attempts += size
        survivors = np.flatnonzero(_matches(screen, columns, targets, kinds).sum(axis=1) <= 1)
        if not len(survivors):
            continue
        counts = _matches(values, columns[survivors], targets[survivors], kinds[survivors]).sum(axis=1)
        candidates = [_query_from_record(record=df.row(int(records[i]), named=True), dtypes=dtypes,
                                         columns=[df.columns[c] for c in columns[i]], medians=medians, rng=rng)
                      for i in survivors[counts == 1]]
        # Anonymeter's own check on the expressions themselves, and its de-duplication by their text.
        for query, count in zip(candidates, _evaluate_queries(df=df, queries=candidates)):
            if count == 1 and str(query) not in seen:
                seen.add(str(query))
                accepted.append(query)
                if len(accepted) == n_queries:
                    break
    return accepted
