"""Hyper-parameters of each generator, validated from the spec's `generator.params` (light: pydantic only).

They are fixed in the spec before any data is seen: choosing them by looking at the private table would itself
leak. The defaults were chosen by `synth-pipeline bench` on the bundled Adult sample (a use of that public data,
acceptable for it and for nothing else); a new dataset should keep them or set its own from public knowledge.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from synth_pipeline.spec.base import Frozen

# The smallest share of a budget any one step may get. The shares multiply the run's zCDP budget, which is small
# already (epsilon 0.01 gives rho about 1e-6); a share near 0 would make a noise scale divide by (nearly) zero.
MIN_SHARE = 0.01


class DomainParams(Frozen):
    """How the public domain is cut into codes (see `synth_pipeline.domain.build_domain`)."""

    # Integers with at most this many values get one code each; wider numerics and datetimes this many bins.
    numeric_bins: int = Field(100, ge=2, le=1000)
    max_levels: int = Field(1000, ge=2, le=100_000)  # refuse columns with more codes than this

    @model_validator(mode="after")
    def _bins_are_levels(self) -> DomainParams:
        # A wide numeric column gets numeric_bins codes; the domain would refuse every such column at training.
        if self.numeric_bins > self.max_levels:
            raise ValueError(f"numeric_bins ({self.numeric_bins}) must not exceed max_levels ({self.max_levels})")
        return self


class AimParams(DomainParams):
    """The marginal-based generator: AIM's adaptive measurements and a Private-PGM graphical model."""

    workload_ways: int = Field(2, ge=1, le=4)  # the workload AIM serves: all marginals on this many columns
    # The analysts' column (a public choice, usually evaluation.target): every marginal of up to `target_ways`
    # columns that includes it joins the workload, so AIM weighs what a model of that column needs.
    target: str | None = Field(None, min_length=1, max_length=256)
    target_ways: int = Field(3, ge=2, le=4)
    one_way_share: float = Field(0.2, ge=MIN_SHARE, le=1 - MIN_SHARE)  # of the budget, first on every one-way marginal
    rounds: int = Field(120, ge=2, le=10_000)  # AIM's T: the rest of the budget / T is the first rounds' budget
    selection_share: float = Field(0.1, ge=MIN_SHARE, le=1 - MIN_SHARE)  # of each round's budget, spent choosing
    # How the run's charges become (epsilon, delta): "gdp" (AIM-GDP: every charge a Gaussian-DP bound, converted
    # exactly; synth_pipeline/privacy/tight.py) or "rdp" (zCDP curves, converted). gdp buys the measurements about 18%
    # more budget at epsilon 1 (12% at 10); on Adult, 3 seeds: 2-way TVD 0.0315 against 0.0332 at epsilon 1.
    accounting: Literal["rdp", "gdp"] = "gdp"
    max_model_cells: int = Field(200_000, ge=1_000, le=50_000_000)  # junction-tree size cap (memory, time)
    max_clique_cells: int = Field(100_000, ge=10, le=10_000_000)  # larger marginals are never measured
    sweeps: int = Field(2, ge=0, le=100)  # proportional-fitting sweeps per refit
    iterations: int = Field(50, ge=0, le=10_000)  # mirror-descent steps per round
    final_iterations: int = Field(250, ge=0, le=100_000)


class AutoregressiveParams(DomainParams):
    """The DP-SGD generator: an autoregressive network over the columns trained with Opacus."""

    embedding_dim: int = Field(16, ge=1, le=512)
    hidden: int = Field(128, ge=1, le=4096)
    epochs: int = Field(20, ge=1, le=10_000)
    batch_size: int = Field(1024, ge=2, le=1_000_000)  # expected (Poisson) batch size
    learning_rate: float = Field(3e-3, gt=0, le=1)
    max_grad_norm: float = Field(1.0, ge=1e-3, le=1e3)  # per-example clipping bound C (the noise scales with it)
    count_share: float = Field(0.01, ge=0.001, lt=0.5)  # of the zCDP budget, spent on the DP counts
