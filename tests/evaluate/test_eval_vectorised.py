"""The vectorised singling-out matching equals the per-position gather it replaced, on random inputs."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from synth_pipeline.evaluate import singling_out_queries as soq


def _reference_matches(values, columns, targets, kinds):
    """The former implementation, kept here as the specification."""
    matched = np.ones((len(columns), values.shape[1]), dtype=bool)
    for position in range(columns.shape[1]):
        for kind in (soq.EQUAL, soq.AT_LEAST, soq.AT_MOST, soq.MISSING):
            rows = np.flatnonzero(kinds[:, position] == kind)
            if not len(rows):
                continue
            data, target = values[columns[rows, position]], targets[rows, position, None]
            if kind == soq.EQUAL:
                matched[rows] &= data == target
            elif kind == soq.AT_LEAST:
                matched[rows] &= data >= target
            elif kind == soq.AT_MOST:
                matched[rows] &= data <= target
            else:
                matched[rows] &= np.isnan(data)
    return matched


def _random_predicates(rng, *, n_columns: int, rows: int, predicates: int, per_query: int):
    """Columns of few distinct values (ties) with missing values, and predicates drawn from rows as the attack does."""
    values = rng.integers(0, rng.integers(2, 30, n_columns)[:, None], (n_columns, rows)).astype(np.float64)
    values[rng.random(values.shape) < 0.1] = np.nan
    records = rng.integers(0, rows, predicates)
    columns = np.sort(np.argsort(rng.random((predicates, n_columns)), axis=1)[:, :per_query], axis=1)
    targets = values[columns, records[:, None]]
    ordered = rng.random(n_columns) < 0.5
    kinds = np.where(ordered[columns], np.where(rng.random(targets.shape) < 0.5, soq.AT_LEAST, soq.AT_MOST), soq.EQUAL)
    return values, columns, targets, np.where(np.isnan(targets), soq.MISSING, kinds), records


@pytest.mark.parametrize("seed", range(5))
def test_the_broadcast_matching_equals_the_gather(seed):
    rng = np.random.default_rng(seed)
    values, columns, targets, kinds, _ = _random_predicates(rng, n_columns=8, rows=300, predicates=500,
                                                            per_query=int(rng.integers(1, 5)))
    expected = _reference_matches(values, columns, targets, kinds)
    assert {int(k) for k in np.unique(kinds)} == {soq.EQUAL, soq.AT_LEAST, soq.AT_MOST, soq.MISSING}
    np.testing.assert_array_equal(soq._matches(values, columns, targets, kinds), expected)
    # Chunked counting, down to one predicate per chunk, counts the same.
    for max_entries in (1, 1000, 1 << 24):
        np.testing.assert_array_equal(soq._match_counts(values, columns, targets, kinds, max_entries=max_entries),
                                      expected.sum(axis=1))


@pytest.mark.parametrize("seed", range(3))
def test_matching_on_ranks_equals_matching_on_values(seed):
    rng = np.random.default_rng(seed)
    values, columns, targets, kinds, records = _random_predicates(rng, n_columns=6, rows=400, predicates=300,
                                                                  per_query=3)
    values = values * rng.normal(1000, 300, (len(values), 1)) - 50  # any order-preserving scale: negatives, fractions
    targets = values[columns, records[:, None]]
    codes = soq._codes(values)
    assert codes.dtype == np.float32 and np.array_equal(np.isnan(codes), np.isnan(values))
    np.testing.assert_array_equal(soq._matches(codes, columns, codes[columns, records[:, None]], kinds),
                                  _reference_matches(values, columns, targets, kinds))


def test_the_generated_queries_are_unchanged(monkeypatch):
    """Same draws, same acceptance: the queries equal those found with the former matching on the values."""
    rng = np.random.default_rng(4)
    n = 500
    frame = pl.DataFrame({"age": rng.integers(18, 90, n), "region": rng.choice(["n", "s", "e"], n),
                          "income": [None if g else float(v) for g, v in zip(rng.random(n) < 0.1,
                                                                              rng.normal(4e4, 9e3, n).round(-2))],
                          "smoker": rng.random(n) < 0.3})
    found = soq.singling_out_queries(frame, n_queries=60, n_cols=2, max_attempts=20_000, rng=np.random.default_rng(9))
    monkeypatch.setattr(soq, "_codes", lambda values: values)
    monkeypatch.setattr(soq, "_match_counts", lambda *args: _reference_matches(*args).sum(axis=1))
    before = soq.singling_out_queries(frame, n_queries=60, n_cols=2, max_attempts=20_000, rng=np.random.default_rng(9))
    assert [str(q) for q in found] == [str(q) for q in before] and len(found) >= 20
