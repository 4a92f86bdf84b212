"""`privacy_unit:`, `privacy:` and `generator:`: whom the guarantee protects, how much it may cost, what is trained.

The lifetime budget of a dataset is not here: it lives in the ledger's configuration, so that a spec cannot grant
itself more budget. The generator's hyper-parameters are fixed here, up front: tuning them on private data would
itself leak.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from synth_pipeline.spec.base import NAME_PATTERN, Frozen
from synth_pipeline.spec.limits import MAX_EPSILON, MAX_INDIVIDUALS, MIN_EPSILON, MIN_MECHANISM_EPSILON


class UnitKey(Frozen):
    """One individual per value of `key`; each contributes at most `max_rows` rows (the rest are dropped by a rule
    that does not look at values), and the guarantee is per individual."""

    key: str
    # The sensitivity of every count, so the noise grows with it; DP-SGD also pads each individual to max_rows rows
    # (individuals x max_rows x columns codes in memory). Beyond 100, group the rows in harmonize instead.
    max_rows: int = Field(gt=0, le=100)


class EstimationBudget(Frozen):
    """The part of the run's (epsilon, delta) spent on estimating undeclared domains (bounds, categories)."""

    epsilon: float = Field(ge=MIN_MECHANISM_EPSILON)
    delta: float = Field(0.0, ge=0, lt=1)


# The automatic release decision's share of the run's epsilon when the spec does not say (a noisy threshold test on
# the gated fidelity figures: `synth_pipeline.privacy.decision`).
DEFAULT_DECISION_SHARE = 0.05


class PrivacySpec(Frozen):
    epsilon: float = Field(ge=MIN_EPSILON, le=MAX_EPSILON)
    delta: float = Field(gt=0, lt=1)
    dataset: str | None = Field(None, pattern=NAME_PATTERN)  # ledger key; default: the release name
    estimation: EstimationBudget | None = None
    # A public lower bound on how many individuals the dataset holds: declared (from a register, a census, the
    # data owner's knowledge), never measured. Every check that depends on the table's size uses it instead of the
    # true, private count (delta < 1/n, a batch larger than the table, the gated figures' sensitivity), so a
    # refusal or a verdict tells nobody the true size. Required for a release that trains.
    min_individuals: int | None = Field(None, gt=0, le=MAX_INDIVIDUALS)
    # The epsilon of the automatic release decision (part of `epsilon`, not on top of it); default 5% of epsilon.
    decision_epsilon: float | None = Field(None, ge=MIN_MECHANISM_EPSILON)

    @model_validator(mode="after")
    def _estimation_within_budget(self) -> PrivacySpec:
        if self.estimation is not None:
            if self.estimation.epsilon >= self.epsilon:
                raise ValueError(f"estimation.epsilon ({self.estimation.epsilon}) must be below epsilon ({self.epsilon})")
            if self.estimation.delta >= self.delta:
                raise ValueError(f"estimation.delta ({self.estimation.delta}) must be below delta ({self.delta})")
        estimated = self.estimation.epsilon if self.estimation is not None else 0.0
        if self.epsilon - self.release_decision_epsilon - estimated < MIN_MECHANISM_EPSILON:
            raise ValueError(f"decision_epsilon ({self.release_decision_epsilon:g}) and estimation.epsilon "
                             f"({estimated:g}) together must stay below epsilon ({self.epsilon}) by at least "
                             f"{MIN_MECHANISM_EPSILON:g}: the generator needs the rest")
        return self

    @property
    def release_decision_epsilon(self) -> float:
        return self.decision_epsilon if self.decision_epsilon is not None else DEFAULT_DECISION_SHARE * self.epsilon

    def generator_budget(self, *, estimating: bool) -> tuple[float, float]:
        """(epsilon, delta) left to the generator: the run's budget less the release decision and, when a domain is
        estimated, the estimation share (basic composition, Dwork & Roth 2014, Theorem 3.16; the decision is pure
        epsilon-DP, so it takes no delta)."""
        epsilon, delta = self.epsilon - self.release_decision_epsilon, self.delta
        if estimating and self.estimation is not None:
            epsilon, delta = epsilon - self.estimation.epsilon, delta - self.estimation.delta
        return epsilon, delta


class GeneratorSpec(Frozen):
    name: str
    params: dict[str, Any] = {}
    # A fixed seed makes a run reproducible, which is for tests and benchmarks only: whoever knows the seed can
    # regenerate the noise. Leave it null in production (fresh OS entropy, recorded only in the run folder).
    # numpy's generators take seeds from 0 up; 128 bits is as much entropy as they use.
    seed: int | None = Field(None, ge=0, lt=2**128)


PrivacyUnit = Literal["row"] | UnitKey
