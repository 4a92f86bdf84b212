"""`privacy_unit:`, `privacy:` and `generator:`: whom the guarantee protects, how much it may cost, what is trained.

The lifetime budget of a dataset is not here: it lives in the ledger's configuration, so that a spec cannot grant
itself more budget. The generator's hyper-parameters are fixed here, up front: tuning them on private data would
itself leak.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from synth_pipeline.spec.base import NAME_PATTERN, Frozen


class UnitKey(Frozen):
    """One individual per value of `key`; each contributes at most `max_rows` rows (the rest are dropped by a rule
    that does not look at values), and the guarantee is per individual."""

    key: str
    max_rows: int = Field(gt=0)


class EstimationBudget(Frozen):
    """The part of the run's (epsilon, delta) spent on estimating undeclared domains (bounds, categories)."""

    epsilon: float = Field(gt=0)
    delta: float = Field(0.0, ge=0, lt=1)


class PrivacySpec(Frozen):
    epsilon: float = Field(gt=0)
    delta: float = Field(gt=0, lt=1)
    dataset: str | None = Field(None, pattern=NAME_PATTERN)  # ledger key; default: the release name
    estimation: EstimationBudget | None = None

    @model_validator(mode="after")
    def _estimation_within_budget(self) -> PrivacySpec:
        if self.estimation is not None:
            if self.estimation.epsilon >= self.epsilon:
                raise ValueError(f"estimation.epsilon ({self.estimation.epsilon}) must be below epsilon ({self.epsilon})")
            if self.estimation.delta >= self.delta:
                raise ValueError(f"estimation.delta ({self.estimation.delta}) must be below delta ({self.delta})")
        return self


class GeneratorSpec(Frozen):
    name: str
    params: dict[str, Any] = {}
    # A fixed seed makes a run reproducible, which is for tests and benchmarks only: whoever knows the seed can
    # regenerate the noise. Leave it null in production (fresh OS entropy, recorded only in the run folder).
    seed: int | None = None


PrivacyUnit = Literal["row"] | UnitKey
