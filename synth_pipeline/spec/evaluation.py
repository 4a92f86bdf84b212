"""`evaluation:` and `gates:` what the synthetic table is checked against before a steward sees it."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from synth_pipeline.spec.base import Frozen, Scalar

CONSTRAINT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|==|!=|>|<)\s*(\S+)\s*$")


class Query(Frozen):
    """An analyst's query: a count, a mean, or the share of rows with `column == value`, per group."""

    name: str
    metric: Literal["count", "mean", "share"]
    group_by: tuple[str, ...] = ()
    column: str | None = None
    value: Scalar | None = None

    @model_validator(mode="after")
    def _needs_column(self) -> Query:
        if self.metric != "count" and self.column is None:
            raise ValueError(f"query {self.name!r}: metric {self.metric!r} needs a column")
        if self.metric == "share" and self.value is None:
            raise ValueError(f"query {self.name!r}: metric 'share' needs a value")
        return self


class EvaluationSpec(Frozen):
    target: str | None = None  # the column analysts predict: train-synthetic-test-real utility
    holdout_fraction: float = Field(0.2, gt=0, lt=0.9)
    queries: tuple[Query, ...] = ()
    # Rules every synthetic row must satisfy: "column OP number" or "column OP column", OP in >= > <= < == !=
    constraints: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _constraints_parse(self) -> EvaluationSpec:
        for rule in self.constraints:
            if not CONSTRAINT.match(rule):
                raise ValueError(f"constraint {rule!r}: expected 'column OP value' with OP one of >= > <= < == !=")
        return self

    def columns(self) -> set[str]:
        named = {self.target} if self.target else set()
        for query in self.queries:
            named |= set(query.group_by) | ({query.column} if query.column else set())
        for rule in self.constraints:
            left, _, right = CONSTRAINT.match(rule).groups()
            named.add(left)
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", right) and right not in ("true", "false"):
                named.add(right)
        return named


class UtilityGates(Frozen):
    max_tvd_1way: float = Field(0.1, gt=0, le=1)
    max_tvd_2way: float = Field(0.15, gt=0, le=1)
    min_tstr_ratio: float = Field(0.8, ge=0, le=1.5)  # TSTR score / TRTR score


class RiskGates(Frozen):
    max_dcr_share: float = Field(0.6, gt=0, le=1)  # share closer to train than holdout, at equal sizes; 0.5 ideal
    max_exact_match_rate: float = Field(0.05, ge=0, le=1)
    max_singling_out_risk: float = Field(0.1, ge=0, le=1)
    max_linkability_risk: float = Field(0.1, ge=0, le=1)
    max_attribute_inference_risk: float = Field(0.1, ge=0, le=1)
    max_membership_advantage: float = Field(0.1, ge=0, le=1)


class GatesSpec(Frozen):
    utility: UtilityGates = UtilityGates()
    risk: RiskGates = RiskGates()
