"""The screened singling-out query generator: the same predicates and the same acceptance as Anonymeter's."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from anonymeter.evaluators.singling_out_evaluator import (
    _evaluate_queries,
    _query_from_record,
    multivariate_singling_out_queries,
)

from synth_pipeline.evaluate import singling_out_queries as soq
from synth_pipeline.evaluate.anonymeter_risk import anonymeter_frame


@pytest.fixture
def mixed() -> pl.DataFrame:
    """Numbers (with nulls and ties), text, booleans and a text column with a null: every predicate kind."""
    rng = np.random.default_rng(5)
    n = 600
    income = [None if gap else float(v) for gap, v in zip(rng.random(n) < 0.1, rng.normal(40_000, 9_000, n).round(-2))]
    job = [None if gap else str(v) for gap, v in zip(rng.random(n) < 0.1, rng.choice(["clerk", "nurse", "cook"], n))]
    return pl.DataFrame({"age": rng.integers(18, 90, n), "income": income,
                         "region": rng.choice(["north", "south", "east", "west"], n), "smoker": rng.random(n) < 0.3,
                         "job": job})


def test_the_vectorised_counts_are_anonymeters_counts(mixed):
    values, ordered, medians = soq._column_arrays(mixed)
    median_row = np.array([medians[c] if o and medians[c] is not None else np.nan
                           for c, o in zip(mixed.columns, ordered)])
    rng = np.random.default_rng(1)
    records = rng.integers(0, mixed.height, 400)
    columns = np.sort(np.argsort(rng.random((400, mixed.width)), axis=1)[:, :3], axis=1)
    targets = values[columns, records[:, None]]
    kinds = np.where(ordered[columns], np.where(targets > median_row[columns], soq.AT_LEAST, soq.AT_MOST), soq.EQUAL)
    kinds = np.where(np.isnan(targets), soq.MISSING, kinds)
    assert {int(k) for k in np.unique(kinds)} == {soq.EQUAL, soq.AT_LEAST, soq.AT_MOST, soq.MISSING}
    ours = soq._matches(values, columns, targets, kinds).sum(axis=1)
    dtypes = {c: mixed[c].dtype for c in mixed.columns}
    queries = [_query_from_record(record=mixed.row(int(r), named=True), dtypes=dtypes,
                                  columns=[mixed.columns[c] for c in cols], medians=medians, rng=rng)
               for r, cols in zip(records, columns)]
    assert ours.tolist() == list(_evaluate_queries(df=mixed, queries=queries))
    assert (ours == 1).any() and (ours > 1).any()  # both outcomes exercised


@pytest.mark.parametrize("screen_rows", [1, 50, 1000])
def test_every_query_singles_out_once_and_none_twice(mixed, screen_rows):
    queries = soq.singling_out_queries(mixed, n_queries=200, n_cols=3, max_attempts=20_000,
                                       rng=np.random.default_rng(2), screen_rows=screen_rows)
    assert len(queries) == 200
    assert set(_evaluate_queries(df=mixed, queries=queries)) == {1}
    assert len({str(q) for q in queries}) == len(queries)


def test_the_yield_per_attempt_matches_anonymeters(real_tables, eval_schema):
    """Same attack, same acceptance: from the same number of draws both find about as many queries."""
    train, _ = real_tables
    table = pl.from_pandas(anonymeter_frame(train, eval_schema, list(eval_schema))).unique(maintain_order=True)
    kwargs = {"n_queries": 100_000, "n_cols": 3, "max_attempts": 6000}
    ours = len(soq.singling_out_queries(table, rng=np.random.default_rng(3), **kwargs))
    theirs = len(multivariate_singling_out_queries(df=table, rng=np.random.default_rng(3), **kwargs))
    assert theirs > 100
    assert abs(ours - theirs) < 5 * np.sqrt(theirs), (ours, theirs)


@pytest.mark.parametrize("n_queries, max_attempts, expected", [(0, 100, 0), (10, 1, None)])
def test_limits_are_kept(mixed, n_queries, max_attempts, expected):
    queries = soq.singling_out_queries(mixed, n_queries=n_queries, n_cols=3, max_attempts=max_attempts,
                                       rng=np.random.default_rng(4))
    assert len(queries) == expected if expected is not None else len(queries) <= max_attempts


def test_an_empty_table_has_no_queries():
    empty = pl.DataFrame({"a": pl.Series([], dtype=pl.Float64), "b": pl.Series([], dtype=pl.String)})
    assert soq.singling_out_queries(empty, n_queries=5, n_cols=2, max_attempts=100, rng=np.random.default_rng(0)) == []
