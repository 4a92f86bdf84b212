"""`evaluation:` and `gates:` what the synthetic table is checked against before a steward sees it."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, model_validator

from synth_pipeline.spec.base import Frozen, Scalar
from synth_pipeline.spec.limits import MAX_CONSTRAINTS, MAX_GROUP_BY, MAX_LABEL_CHARS, MAX_QUERIES

CONSTRAINT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|==|!=|>|<)\s*(\S+)\s*$")


class Query(Frozen):
    """An analyst's query: a count, a mean, or the share of rows with `column == value`, per group."""

    name: str = Field(max_length=MAX_LABEL_CHARS)
    metric: Literal["count", "mean", "share"]
    group_by: tuple[str, ...] = Field((), max_length=MAX_GROUP_BY)
    column: str | None = None
    value: Scalar | None = None

    @model_validator(mode="after")
    def _needs_column(self) -> Query:
        if self.metric != "count" and self.column is None:
            raise ValueError(f"query {self.name!r}: metric {self.metric!r} needs a column")
        if self.metric == "share" and self.value is None:
            raise ValueError(f"query {self.name!r}: metric 'share' needs a value")
        return self


class AttackSizes(Frozen):
    """How much work each re-identification check does: larger is tighter (narrower intervals) and slower. The
    defaults keep one Adult-sized run (40k rows) to about a minute on two cores. Singling-out needs its 1,000
    predicates: with the 250 or so that 100,000 attempts find on Adult, a DP release's reading spread from -0.08 to
    0.16 over seeds, across the 0.1 gate; with 1,000 it stays within -0.03 to 0.06. The caps are 10 to 30 times the
    defaults: about as long as a worker task may run (the time grows linearly with each)."""

    distance_queries: int = Field(3000, gt=0, le=100_000)  # synthetic (and holdout) rows: nearest records found
    membership_targets: int = Field(2000, gt=1, le=50_000)  # members, and as many non-members
    singling_out: int = Field(1000, gt=0, le=20_000)  # predicates tried
    singling_out_columns: int = Field(3, gt=0, le=10)  # columns per predicate
    singling_out_max_attempts: int = Field(500_000, gt=0, le=10_000_000)  # candidate predicates drawn before giving up
    linkability: int = Field(500, gt=0, le=10_000)  # records the attacker tries to re-link
    inference: int = Field(10_000, gt=0, le=200_000)  # targets per secret column (at most the holdout's rows)
    confidence: float = Field(0.95, gt=0, lt=1)  # of every reported interval


class EvaluationSpec(Frozen):
    target: str | None = None  # the column analysts predict: train-synthetic-test-real utility
    holdout_fraction: float = Field(0.2, gt=0, lt=0.9)
    queries: tuple[Query, ...] = Field((), max_length=MAX_QUERIES)
    # Rules every synthetic row must satisfy: "column OP number" or "column OP column", OP in >= > <= < == !=
    constraints: tuple[Annotated[str, Field(max_length=MAX_LABEL_CHARS)], ...] = Field((), max_length=MAX_CONSTRAINTS)
    # Columns an attacker tries to infer from all the others (attribute inference); default: the target
    secrets: tuple[str, ...] = ()
    # The two column sets a linkability attacker holds; default: the released columns split alternately
    linkability_columns: tuple[tuple[str, ...], tuple[str, ...]] | None = None
    attacks: AttackSizes = AttackSizes()
    # Rows per side (training, holdout, synthetic) the re-identification checks and TSTR look at: a larger table is
    # sampled down to it with the run's rng. Their figures' precision depends on the rows compared, not the table's
    # size, while their cost grows with rows x rows; the default leaves the bundled datasets (Adult: 36,000 training
    # rows) whole and caps a 1M-row table's checks at about a minute.
    check_rows: int = Field(50_000, ge=1_000, le=1_000_000)

    @model_validator(mode="after")
    def _constraints_parse(self) -> EvaluationSpec:
        for rule in self.constraints:
            if not CONSTRAINT.match(rule):
                raise ValueError(f"constraint {rule!r}: expected 'column OP value' with OP one of >= > <= < == !=")
        if self.linkability_columns is not None:
            first, second = self.linkability_columns
            if not first or not second or set(first) & set(second):
                raise ValueError("linkability_columns: expected two non-empty lists with no column in both")
        return self

    def columns(self) -> set[str]:
        named = ({self.target} if self.target else set()) | set(self.secrets)
        for half in self.linkability_columns or ():
            named |= set(half)
        for query in self.queries:
            named |= set(query.group_by) | ({query.column} if query.column else set())
        for rule in self.constraints:
            left, _, right = CONSTRAINT.match(rule).groups()
            named.add(left)
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", right) and right not in ("true", "false"):
                named.add(right)
        return named


class UtilityGates(Frozen):
    """Means over all 1-, 2- (and 3-) way marginals; the optional gates (null) are reported but decide nothing."""

    max_tvd_1way: float = Field(0.1, gt=0, le=1)
    max_tvd_2way: float = Field(0.15, gt=0, le=1)
    min_tstr_ratio: float = Field(0.8, ge=0, le=1.5)  # TSTR score / TRTR score
    max_tvd_3way: float | None = Field(None, gt=0, le=1)
    max_association_difference: float | None = Field(None, gt=0, le=2)  # mean |real - synthetic| over column pairs
    max_query_relative_error: float | None = Field(None, gt=0)  # mean relative error of each evaluation query


class RiskGates(Frozen):
    max_dcr_share: float = Field(0.6, gt=0, le=1)  # share closer to train than holdout, at equal sizes; 0.5 ideal
    max_exact_match_rate: float = Field(0.05, ge=0, le=1)
    max_singling_out_risk: float = Field(0.1, ge=0, le=1)
    max_linkability_risk: float = Field(0.1, ge=0, le=1)
    max_attribute_inference_risk: float = Field(0.1, ge=0, le=1)
    max_membership_advantage: float = Field(0.1, ge=0, le=1)
    # Fail when the membership advantage's lower confidence limit exceeds what (epsilon, delta)-DP allows: the
    # accounting or the generator is then broken, whatever the gate above says.
    enforce_dp_bound: bool = True


class GatesSpec(Frozen):
    utility: UtilityGates = UtilityGates()
    risk: RiskGates = RiskGates()
