"""Privacy audit with canaries: an empirical LOWER bound on the epsilon a trained generator actually has.

One training run (Steinke, Nasr & Jagielski, "Privacy Auditing with One (1) Training Run", NeurIPS 2023):
1. craft m canary records from the public domain only (`make_canaries`): values in the outer tenths of each declared
   range and uniformly drawn categories, so each is a rare combination, far from the real rows;
2. include each canary in a copy of the training table independently with probability 1/2 (`draw_inclusion`,
   `plant_canaries`), train, sample;
3. score every canary by how member-like the synthetic table makes it look (`canary_scores`: minus its distance to
   the nearest synthetic row);
4. guess "in" for the k highest scores and "out" for the k lowest (ties broken at random), abstain on the rest;
   count correct guesses.
Under (epsilon, delta)-DP the number of correct guesses among r is stochastically dominated by Binomial(r, q) with
q = e^eps / (1 + e^eps), up to a delta term (their Theorem 3.1 and Proposition 5.7); the bound is the largest epsilon
this rejects at the chosen confidence. The guess count k is picked from a fixed grid, with a Bonferroni correction
over the grid, so that picking the best k after the fact stays valid.

A lower bound above the claimed epsilon means the implementation or the accounting is broken. A bound well below it
is expected: audits with one run and a black-box attacker are loose; it is evidence, not proof, of privacy.
The `synth-pipeline audit SPEC` command composes these: make, draw, plant, train through the generator registry,
sample, score, bound.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.stats import binom

from synth_pipeline.errors import ConfigError
from synth_pipeline.evaluate.encoding import MixedEncoder, domain_columns, nearest, public_bounds
from synth_pipeline.spec.schema import BooleanColumn, CategoricalColumn, ColumnSpec, DatetimeColumn

GUESS_FRACTIONS = (0.05, 0.1, 0.2, 0.5, 1.0)  # k / (m / 2): the grid the guess count is chosen from
_OUTER = 0.1  # canary numbers come from the lowest or highest tenth of the declared range


def make_canaries(schema: Mapping[str, ColumnSpec], *, count: int, rng: np.random.Generator) -> pd.DataFrame:
    """`count` records drawn from the declared domain alone (no data is read), typed like a harmonized table."""
    if count < 2:
        raise ValueError("an audit needs at least 2 canaries")
    columns = {}
    for name in domain_columns(schema):
        spec = schema[name]
        if isinstance(spec, CategoricalColumn):
            if spec.categories is None:
                raise ConfigError(f"schema.{name}: canaries are drawn from declared categories only, and this column's "
                                  "are estimated from the data")
            levels = list(spec.categories)
            columns[name] = pd.Categorical(rng.choice(levels, size=count), categories=levels)
        elif isinstance(spec, BooleanColumn):
            columns[name] = pd.array(rng.random(count) < 0.5, dtype="boolean")
        else:
            low, high = public_bounds(spec)
            offset = rng.random(count) * _OUTER * (high - low)
            values = np.where(rng.random(count) < 0.5, low + offset, high - offset)
            if isinstance(spec, DatetimeColumn):
                columns[name] = pd.to_datetime(np.round(values), unit="s")
            elif spec.type == "integer":
                columns[name] = pd.array(np.clip(np.round(values), math.ceil(low), math.floor(high)).astype(np.int64),
                                         dtype="Int64")
            else:
                columns[name] = pd.array(values, dtype="Float64")
    return pd.DataFrame(columns)


def draw_inclusion(count: int, *, rng: np.random.Generator) -> np.ndarray:
    """Which canaries go into training: independent fair coins, as the one-run analysis requires."""
    return rng.random(count) < 0.5


def plant_canaries(train: pd.DataFrame, canaries: pd.DataFrame, included: np.ndarray) -> pd.DataFrame:
    """A copy of the training table with the included canaries appended (the original is not modified)."""
    planted = canaries[included].astype({name: train[name].dtype for name in canaries.columns})
    return pd.concat([train, planted.reindex(columns=train.columns)], ignore_index=True)


def canary_scores(canaries: pd.DataFrame, synthetic: pd.DataFrame, encoder: MixedEncoder) -> np.ndarray:
    """Higher = more member-like: minus the distance to the nearest synthetic row."""
    return -np.sqrt(nearest(encoder.encode(canaries), encoder.encode(synthetic)).squared[:, 0])


def p_value(*, canaries: int, guesses: int, correct: int, epsilon: float, delta: float) -> float:
    """P[>= `correct` right among `guesses`] under (epsilon, delta)-DP, m = `canaries` (Steinke et al., Prop. 5.7):
    P[Binomial(r, q) >= v] + 2 m delta max_i P[v - i <= Binomial(r, q) < v] / i."""
    if not 0 <= correct <= guesses <= canaries:
        raise ValueError("need 0 <= correct <= guesses <= canaries")
    q = 1.0 / (1.0 + math.exp(-epsilon))
    tail = float(binom.sf(correct - 1, guesses, q))
    below = binom.pmf(np.arange(correct - 1, -1, -1), guesses, q)  # P[B = v-1], P[B = v-2], ..., P[B = 0]
    alpha = float(np.max(np.cumsum(below) / np.arange(1, correct + 1))) if correct > 0 else 0.0
    return min(1.0, tail + alpha * delta * 2 * canaries)


def epsilon_lower_bound(*, canaries: int, guesses: int, correct: int, delta: float, significance: float) -> float:
    """The largest epsilon at which `correct` of `guesses` has p-value below `significance` (0 if none)."""
    if p_value(canaries=canaries, guesses=guesses, correct=correct, epsilon=0.0, delta=delta) >= significance:
        return 0.0
    low, high = 0.0, 1.0
    while p_value(canaries=canaries, guesses=guesses, correct=correct, epsilon=high, delta=delta) < significance:
        low, high = high, high * 2
        if high > 100:
            return low
    for _ in range(40):  # bisection: p_value grows with epsilon
        middle = (low + high) / 2
        if p_value(canaries=canaries, guesses=guesses, correct=correct, epsilon=middle, delta=delta) < significance:
            low = middle
        else:
            high = middle
    return low


@dataclass(frozen=True)
class AuditBound:
    epsilon_lower_bound: float
    guesses: int
    correct: int
    canaries: int
    confidence: float
    delta: float

    def to_dict(self) -> dict:
        return asdict(self)


def audit_epsilon_lower_bound(scores_in: np.ndarray, scores_out: np.ndarray, *, delta: float, confidence: float,
                              rng: np.random.Generator) -> AuditBound:
    """The one-run bound from the scores of included and excluded canaries, maximised over the guess grid (each
    grid point tested at (1 - confidence) / len(grid)). Ties are broken at random (`rng`)."""
    scores = np.concatenate([np.asarray(scores_in, dtype=np.float64), np.asarray(scores_out, dtype=np.float64)])
    truth = np.concatenate([np.ones(len(scores_in), dtype=bool), np.zeros(len(scores_out), dtype=bool)])
    m = len(scores)
    if m < 2:
        raise ValueError("an audit needs at least 2 scored canaries")
    # The scores arrive grouped by the truth (included first): a stable sort would then rank included canaries
    # first among equal scores and make every tied guess right by construction (on discrete distances, all of
    # them). Shuffling scores and truth together first makes the stable sort break ties uniformly at random.
    shuffle = rng.permutation(m)
    scores, truth = scores[shuffle], truth[shuffle]
    order = np.argsort(-scores, kind="stable")  # highest first
    significance = (1 - confidence) / len(GUESS_FRACTIONS)
    best = AuditBound(0.0, 0, 0, m, confidence, delta)
    for fraction in GUESS_FRACTIONS:
        k = max(1, int(fraction * (m // 2)))
        correct = int(truth[order[:k]].sum() + (~truth[order[m - k:]]).sum())
        bound = epsilon_lower_bound(canaries=m, guesses=2 * k, correct=correct, delta=delta, significance=significance)
        if bound > best.epsilon_lower_bound:
            best = AuditBound(bound, 2 * k, correct, m, confidence, delta)
    return best
