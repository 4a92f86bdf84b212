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

The counting itself works on each column's dense ranks (float32, NaN for missing: the same order and equalities as
the values) and compares one column with many predicates' targets by broadcasting, a chunk of predicates at a time:
its memory stays bounded and its time linear in rows x predicates (`tests/evaluate/test_eval_vectorised.py` holds it
equal to the former per-position gather).
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


def _codes(values: np.ndarray) -> np.ndarray:
    """Each column's dense ranks as float32, NaN kept: the same order and equalities as `values` at half the bytes,
    exact while a column has under 2^24 distinct values (more than the rows of any table checked here)."""
    codes = np.empty(values.shape, dtype=np.float32)
    for row, column in enumerate(values):
        missing = np.isnan(column)
        codes[row] = np.unique(column, return_inverse=True)[1]
        codes[row, missing] = np.nan
    return codes


def _matches(values: np.ndarray, columns: np.ndarray, targets: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """Rows (of `values`, columns x rows, NaN for missing) satisfying each predicate: a (predicates, rows) boolean
    array. Column by column: every predicate on a column compares that one row of `values` with its target by
    broadcasting, so no (predicates, rows) copy of the data is gathered. A predicate uses a column at most once."""
    matched = np.ones((len(columns), values.shape[1]), dtype=bool)
    for column in np.unique(columns):
        predicates, positions = np.nonzero(columns == column)
        data, kind = values[column][None, :], kinds[predicates, positions]
        target = targets[predicates, positions].astype(values.dtype)[:, None]
        for code, test in ((EQUAL, np.equal), (AT_LEAST, np.greater_equal), (AT_MOST, np.less_equal)):
            chosen = kind == code
            if chosen.any():  # NaN data fails all three, as a missing value should
                matched[predicates[chosen]] &= test(data, target[chosen])
        chosen = kind == MISSING
        if chosen.any():
            matched[predicates[chosen]] &= np.isnan(data)
    return matched


def _match_counts(values: np.ndarray, columns: np.ndarray, targets: np.ndarray, kinds: np.ndarray, *,
                  max_entries: int = 1 << 24) -> np.ndarray:
    """How many rows satisfy each predicate, a chunk of predicates at a time so that the boolean matrix stays
    under `max_entries` (16 MB) whatever the table's size."""
    step = max(1, max_entries // max(values.shape[1], 1))
    return np.concatenate([_matches(values, columns[i:i + step], targets[i:i + step], kinds[i:i + step]).sum(axis=1)
                           for i in range(0, len(columns), step)]) if len(columns) else np.zeros(0, dtype=np.int64)


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
    codes = _codes(values)
    screen = codes[:, rng.choice(df.height, size=min(screen_rows, df.height), replace=False)]
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
        targets = codes[columns, records[:, None]]  # kinds come from the values (medians), matching from the ranks
        attempts += size
        survivors = np.flatnonzero(_match_counts(screen, columns, targets, kinds) <= 1)
        if not len(survivors):
            continue
        counts = _match_counts(codes, columns[survivors], targets[survivors], kinds[survivors])
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
