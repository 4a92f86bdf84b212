"""The automatic release decision: one noisy threshold test over the gated fidelity figures, epsilon-DP.

Whether a run may go on to the steward (and so whether a version is ever published) is an output of the data like
any other. It is decided here, under noise, at a share of the run's epsilon that the budget plan lists:

- Each gated figure f_i comes with a limit L_i and a stated per-person sensitivity D_i: adding or removing one
  individual moves f_i by at most D_i (for a marginal TVD against the declared size floor N, D = max_rows / N; see
  `synth_pipeline.evaluate.fidelity.marginal_tvds`).
- Its normalised margin m_i = (L_i - f_i) / D_i (for an "at most" gate; (f_i - L_i) / D_i for "at least") moves by
  at most 1, and so does the smallest margin M = min_i m_i (a minimum of functions that each move by at most 1).
- The decision is "pass" exactly when M + Z > 0, Z ~ Laplace(1 / epsilon): the Laplace mechanism at sensitivity 1
  (Dwork, McSherry, Nissim & Smith 2006) followed by a comparison, which is post-processing. It is epsilon-DP with
  no delta, and composes with the generator and domain estimation by basic composition (Dwork & Roth 2014,
  Theorem 3.16), which is how the ledger charges the run.

The synthetic table is an input too, but it is itself the output of the DP generator: conditioning on it is
adaptive composition, which basic composition covers. A figure that could not be computed has margin minus
infinity: the decision fails closed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

MECHANISM = "laplace noisy threshold test on the smallest normalised gate margin (sensitivity 1)"


@dataclass(frozen=True)
class GatedFigure:
    """A figure the release decision looks at: its value is private, everything else is public."""

    name: str
    value: float | None
    limit: float
    direction: Literal["max", "min"]
    sensitivity: float  # per individual, stated by the code that computes the figure

    def margin(self) -> float:
        if self.value is None or math.isnan(self.value):
            return -math.inf
        slack = self.limit - self.value if self.direction == "max" else self.value - self.limit
        return slack / self.sensitivity


@dataclass(frozen=True)
class ReleaseDecision:
    passed: bool
    epsilon: float
    gates: tuple[dict, ...]  # name, limit, direction, sensitivity: public

    @classmethod
    def from_dict(cls, document: dict) -> ReleaseDecision:
        return cls(passed=bool(document["passed"]), epsilon=float(document["epsilon"]),
                   gates=tuple(document["gates"]))

    def to_dict(self) -> dict:
        """Public: the verdict (a DP output) and the mechanism's parameters; never a figure or a margin."""
        return {"passed": self.passed, "mechanism": MECHANISM, "epsilon": self.epsilon, "delta": 0.0,
                "noise_scale": 1 / self.epsilon, "gates": list(self.gates)}


def noisy_threshold_decision(figures: Sequence[GatedFigure], *, epsilon: float,
                             rng: np.random.Generator) -> ReleaseDecision:
    """Pass when min_i margin_i + Laplace(1/epsilon) > 0. No figures: nothing to decide on, so nothing passes."""
    if not (epsilon > 0 and math.isfinite(epsilon)):
        raise ValueError(f"the release decision needs a positive, finite epsilon, got {epsilon}")
    if any(not (figure.sensitivity > 0 and math.isfinite(figure.sensitivity)) for figure in figures):
        raise ValueError("every gated figure needs a positive, finite sensitivity")
    smallest = min((figure.margin() for figure in figures), default=-math.inf)
    # The noise is drawn whatever the margin, so that the rng's state after the call does not depend on the data.
    noise = rng.laplace(0.0, 1.0 / epsilon)
    public = tuple({"name": f.name, "limit": f.limit, "direction": f.direction, "sensitivity": f.sensitivity}
                   for f in figures)
    return ReleaseDecision(passed=bool(smallest + noise > 0), epsilon=epsilon, gates=public)
