"""Contribution bounding (per-person guarantee) and the train | holdout split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synth_pipeline.errors import PrivacyConfigError
from synth_pipeline.privacy.contributions import bound_contributions, max_rows_per_unit, split_holdout
from synth_pipeline.spec import UnitKey


def visits(rows_per_person: dict[str, int]) -> pd.DataFrame:
    """One row per visit; `value` is unique per row so tests can see which rows survived."""
    people = [person for person, count in rows_per_person.items() for _ in range(count)]
    return pd.DataFrame({"patient": people, "value": np.arange(len(people), dtype=float) * 10})


BOUND_CASES = [
    # (rows per person, max_rows, rows kept, rows dropped, individuals truncated)
    ({"a": 1, "b": 2, "c": 3}, 5, 6, 0, 0),
    ({"a": 1, "b": 2, "c": 3}, 2, 5, 1, 1),
    ({"a": 10, "b": 10, "c": 1}, 1, 3, 18, 2),
    ({"a": 7}, 3, 3, 4, 1),
]


@pytest.mark.parametrize("per_person, max_rows, kept, dropped, truncated", BOUND_CASES)
def test_each_individual_keeps_at_most_max_rows(per_person, max_rows, kept, dropped, truncated):
    table = visits(per_person)
    bounded, report = bound_contributions(table, UnitKey(key="patient", max_rows=max_rows),
                                          rng=np.random.default_rng(0))
    assert bounded["patient"].value_counts().max() <= max_rows
    assert set(bounded["patient"]) == set(per_person)  # nobody disappears, only their extra rows
    assert (len(bounded), report.rows_dropped_by_bound, report.individuals_truncated) == (kept, dropped, truncated)
    assert (report.rows_in, report.rows_out, report.individuals) == (len(table), kept, len(per_person))
    assert set(bounded["value"]) <= set(table["value"])  # rows are kept whole, never altered


def test_which_rows_survive_does_not_depend_on_their_values():
    """Over many draws each of a person's rows is kept equally often, whatever its value."""
    table = visits({"a": 10, "b": 1})
    kept = pd.Series(0, index=table.loc[table["patient"] == "a", "value"])
    rng = np.random.default_rng(1)
    for _ in range(1000):
        bounded, _ = bound_contributions(table, UnitKey(key="patient", max_rows=3), rng=rng)
        kept[bounded.loc[bounded["patient"] == "a", "value"]] += 1
    # Each of 10 rows is kept with probability 3/10: 300 of 1000 draws, binomial sd ~14.5.
    assert kept.between(300 - 5 * 14.5, 300 + 5 * 14.5).all(), kept.to_dict()
    # Reversing the values does not change the selection given the same random draws: the rule never reads them.
    positioned = table.assign(position=np.arange(len(table)))
    reversed_values = positioned.assign(value=positioned["value"].to_numpy()[::-1])
    first, _ = bound_contributions(positioned, UnitKey(key="patient", max_rows=3), rng=np.random.default_rng(7))
    second, _ = bound_contributions(reversed_values, UnitKey(key="patient", max_rows=3), rng=np.random.default_rng(7))
    assert list(first["position"]) == list(second["position"])


def test_rows_without_an_individual_are_dropped_and_counted():
    table = pd.DataFrame({"patient": pd.array(["a", None, "b", None], dtype="string"), "value": [1.0, 2.0, 3.0, 4.0]})
    bounded, report = bound_contributions(table, UnitKey(key="patient", max_rows=2), rng=np.random.default_rng(0))
    assert list(bounded["value"]) == [1.0, 3.0]
    assert (report.rows_without_unit, report.rows_out, report.individuals) == (2, 2, 2)


def test_row_unit_keeps_every_row():
    table = visits({"a": 3, "b": 2})
    bounded, report = bound_contributions(table, "row", rng=np.random.default_rng(0))
    assert bounded.equals(table) and report.unit == "row" and report.rows_dropped_by_bound == 0
    assert max_rows_per_unit("row") == 1 and max_rows_per_unit(UnitKey(key="patient", max_rows=4)) == 4


def test_a_missing_key_column_is_refused():
    with pytest.raises(PrivacyConfigError, match="'person' is not a column"):
        bound_contributions(visits({"a": 1}), UnitKey(key="person", max_rows=1), rng=np.random.default_rng(0))


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.7])
def test_split_by_individual_puts_nobody_on_both_sides(fraction):
    table = visits({f"p{i}": 1 + i % 4 for i in range(50)})
    train, holdout, report = split_holdout(table, UnitKey(key="patient", max_rows=4), holdout_fraction=fraction,
                                           rng=np.random.default_rng(3))
    assert set(train["patient"]).isdisjoint(holdout["patient"])
    assert set(train["patient"]) | set(holdout["patient"]) == set(table["patient"])
    assert report.holdout_individuals == holdout["patient"].nunique()
    assert report.train_individuals == train["patient"].nunique() == 50 - report.holdout_individuals
    assert (report.train_rows + report.holdout_rows, len(train), len(holdout)) == (
        len(table), report.train_rows, report.holdout_rows)
    assert sorted(pd.concat([train, holdout])["value"]) == sorted(table["value"])


def test_split_by_row_for_the_row_unit():
    table = visits({"a": 40, "b": 60})
    train, holdout, report = split_holdout(table, "row", holdout_fraction=0.25, rng=np.random.default_rng(0))
    assert len(train) + len(holdout) == 100
    assert (len(train), len(holdout)) == (report.train_individuals, report.holdout_individuals)
    assert set(train["value"]).isdisjoint(holdout["value"])
    # By row, one person can be on both sides: that is what `row` means.
    assert set(train["patient"]) & set(holdout["patient"])


def test_the_split_is_random_but_reproducible_from_the_generator():
    table = visits({f"p{i}": 1 for i in range(100)})
    unit = UnitKey(key="patient", max_rows=1)
    draw = lambda seed: set(split_holdout(table, unit, holdout_fraction=0.2, rng=np.random.default_rng(seed))[1]["patient"])  # noqa: E731
    assert draw(5) == draw(5) and draw(5) != draw(6)


@pytest.mark.parametrize("unit", ["row", UnitKey(key="patient", max_rows=1)])
def test_the_training_size_is_not_a_function_of_n(unit):
    """Bernoulli coins, not a holdout of round(f * n): for a fixed n the training size varies from draw to draw,
    and its mean is (1 - f) n. With a fixed-size holdout it took one value per n (adding a person could leave
    |train| unchanged, a substitution)."""
    for n in (12, 13, 200):
        table = visits({f"p{i}": 1 for i in range(n)})
        sizes = [split_holdout(table, unit, holdout_fraction=0.2, rng=np.random.default_rng(seed))[2].train_rows
                 for seed in range(400)]
        assert len(set(sizes)) > 3
        assert abs(np.mean(sizes) - 0.8 * n) < 4 * np.sqrt(0.16 * n / 400) + 1e-9


def test_each_individual_is_held_out_with_probability_f():
    table = visits({f"p{i}": 2 for i in range(40)})
    held = np.zeros(40)
    for seed in range(500):
        holdout = split_holdout(table, UnitKey(key="patient", max_rows=2), holdout_fraction=0.3,
                                rng=np.random.default_rng(seed))[1]
        held += np.isin([f"p{i}" for i in range(40)], holdout["patient"].unique())
    assert np.all(np.abs(held / 500 - 0.3) < 0.1)  # 4.9 standard errors


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_a_fraction_outside_0_1_is_refused(fraction):
    with pytest.raises(PrivacyConfigError, match=r"holdout_fraction must be in \(0, 1\)"):
        split_holdout(visits({"a": 1, "b": 1}), UnitKey(key="patient", max_rows=5), holdout_fraction=fraction,
                      rng=np.random.default_rng(0))


def test_split_refuses_unbounded_rows_without_an_individual():
    table = pd.DataFrame({"patient": pd.array(["a", None, "b"], dtype="string"), "value": [1.0, 2.0, 3.0]})
    with pytest.raises(PrivacyConfigError, match="has missing values") as raised:
        split_holdout(table, UnitKey(key="patient", max_rows=1), holdout_fraction=0.5, rng=np.random.default_rng(0))
    assert not any(ch.isdigit() for ch in str(raised.value))
