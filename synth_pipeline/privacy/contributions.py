"""Whom the guarantee protects: bound each individual's contribution, then split off the holdout.

With `privacy_unit: row` every row is its own individual. With a key (`UnitKey`), one person may hold many rows; a
generator that is (epsilon, delta)-DP per row is, per person, only DP at the group size. Bounding every person to at
most `max_rows` rows makes the per-row accounting a per-person one (the accountant scales by `max_rows`), and the
rows to keep are chosen by a random permutation, never by their values: a value-based rule (the latest, the
largest) would make which rows survive depend on the data in ways the accountant does not see.

The holdout is for the later re-identification checks only, never for training. With a key it is drawn by
individual (nobody is on both sides, or "closer to train than to holdout" would compare a person with themself);
otherwise by row. Reports hold counts only.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from synth_pipeline.errors import PrivacyConfigError
from synth_pipeline.spec import PrivacyUnit, UnitKey


@dataclass(frozen=True)
class ContributionReport:
    unit: str  # "row" or the key column
    max_rows_per_unit: int
    rows_in: int
    rows_without_unit: int  # a missing key cannot be bounded: such rows are dropped
    rows_dropped_by_bound: int
    individuals: int
    individuals_truncated: int  # individuals who had more than max_rows rows
    rows_out: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SplitReport:
    holdout_fraction: float
    train_rows: int
    holdout_rows: int
    train_individuals: int
    holdout_individuals: int

    def to_dict(self) -> dict:
        return asdict(self)


def max_rows_per_unit(unit: PrivacyUnit) -> int:
    """How many rows one individual may contribute: what every mechanism's sensitivity is scaled by."""
    return unit.max_rows if isinstance(unit, UnitKey) else 1


def training_floor(*, min_individuals: int | None, holdout_fraction: float) -> int:
    """A public floor on the training table's individuals: (1 - f) of the spec's declared `privacy.min_individuals`.

    Public, so checks and sensitivities built on it reveal nothing; it need not be a true bound (the split is
    random): a floor that is too high makes the gated figures read worse, it never weakens the guarantee."""
    if min_individuals is None:
        raise PrivacyConfigError("privacy.min_individuals is not set: a release that trains needs a declared, public "
                                 "lower bound on how many individuals the dataset holds (every check that depends on "
                                 "the table's size uses it instead of the true, private count)")
    return max(1, math.floor((1 - holdout_fraction) * min_individuals))


def bound_contributions(table: pd.DataFrame, unit: PrivacyUnit, *,
                        rng: np.random.Generator) -> tuple[pd.DataFrame, ContributionReport]:
    """Keep at most `max_rows` rows per individual: shuffle all rows with `rng`, keep each key's first rows.

    Which of a person's rows survive is a uniformly random subset, independent of every value and of who else is
    in the table, so adding or removing one person changes the output by at most that person's `max_rows` rows."""
    table = table.reset_index(drop=True)
    if not isinstance(unit, UnitKey):
        return table, ContributionReport("row", 1, len(table), 0, 0, len(table), 0, len(table))
    if unit.key not in table.columns:
        raise PrivacyConfigError(f"privacy_unit.key {unit.key!r} is not a column of the table")
    has_unit = table[unit.key].notna()
    keyed = table[has_unit]
    shuffled = keyed.iloc[rng.permutation(len(keyed))]
    rank_in_unit = shuffled.groupby(unit.key, sort=False).cumcount()
    # Back to the input order: the order after the shuffle carries nothing, and a stable order is easier to audit.
    bounded = shuffled[rank_in_unit < unit.max_rows].sort_index()
    per_unit = keyed[unit.key].value_counts()
    report = ContributionReport(
        unit=unit.key, max_rows_per_unit=unit.max_rows, rows_in=len(table), rows_without_unit=int((~has_unit).sum()),
        rows_dropped_by_bound=len(keyed) - len(bounded), individuals=len(per_unit),
        individuals_truncated=int((per_unit > unit.max_rows).sum()), rows_out=len(bounded))
    return bounded.reset_index(drop=True), report


def split_holdout(table: pd.DataFrame, unit: PrivacyUnit, *, holdout_fraction: float,
                  rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame, SplitReport]:
    """Train and holdout parts: each individual (each row, for `row`) goes to the holdout on its own coin,
    Bernoulli(`holdout_fraction`) drawn with `rng`.

    Independent coins keep the neighbouring relation that every mechanism is accounted under: adding a person to
    the source adds them to exactly one side and moves nobody else. A holdout of fixed size round(f * n) does not:
    when it steps up, the training table of D + x equals that of D with x in and someone else out, a substitution
    (two add/remove steps; about epsilon 1.8 for a claimed 1 at f = 0.2). The sizes of both sides are therefore
    random and private; they stay in the run folder's report."""
    if not 0 < holdout_fraction < 1:
        raise PrivacyConfigError(f"evaluation.holdout_fraction must be in (0, 1), got {holdout_fraction}")
    table = table.reset_index(drop=True)
    if isinstance(unit, UnitKey):
        keys = table[unit.key]
        if keys.isna().any():
            raise PrivacyConfigError(f"privacy_unit.key {unit.key!r} has missing values: bound contributions (which "
                                     "drops them) before splitting")
        # One coin per person (all of a person's rows follow it, so nobody is on both sides). Which draw a person
        # gets depends on who else is present, but the coins are i.i.d.: the split's distribution is the same.
        individuals, position = np.unique(keys.to_numpy(), return_inverse=True)
        in_holdout = (rng.random(len(individuals)) < holdout_fraction)[position]
    else:
        individuals = table.index.to_numpy()
        in_holdout = rng.random(len(table)) < holdout_fraction
    train, holdout = table[~in_holdout], table[in_holdout]
    held_out = int(np.unique(holdout[unit.key]).size) if isinstance(unit, UnitKey) else len(holdout)
    report = SplitReport(holdout_fraction, len(train), len(holdout), len(individuals) - held_out, held_out)
    return train.reset_index(drop=True), holdout.reset_index(drop=True), report
