"""Tighter conversions to (epsilon, delta) than RDP's, each sound on its own, for fits whose mechanisms they cover.

- Gaussian DP (Dong, Roth & Su 2022, "Gaussian differential privacy", JRSS B):
  * the Gaussian mechanism with L2 sensitivity Delta and noise N(0, sigma^2) is mu-GDP with mu = Delta / sigma
    (Thm. 2.7); mu_i-GDP mechanisms compose, adaptively, into sqrt(sum mu_i^2)-GDP (Cor. 3.3);
  * an epsilon-DP mechanism (the exponential mechanism at epsilon) is mu-GDP with mu = -2 Phi^-1(1 / (1 + e^eps)):
    the trade-off curve f_{eps,0} is piecewise linear through (0, 1), (a, a), (1, 0) with a = 1 / (1 + e^eps), and
    the convex G_mu passes through the same three points, so it lies below each chord (Prop. 2.5's ordering);
  * mu-GDP is (epsilon, delta(epsilon))-DP for every epsilon with delta(epsilon) = Phi(-epsilon/mu + mu/2)
    - e^epsilon Phi(-epsilon/mu - mu/2) (Cor. 2.13), exact: no slack in the conversion.

A fit that plans its budget in GDP (`aim` with `accounting: gdp`) is accounted in GDP alone.
"""

from __future__ import annotations

import math

from scipy.optimize import brentq
from scipy.stats import norm


def gaussian_mu(*, sensitivity: float, sigma: float) -> float:
    if sigma <= 0 or sensitivity <= 0:
        raise ValueError("sigma and sensitivity must be positive")
    return sensitivity / sigma


def pure_dp_mu(*, epsilon: float) -> float:
    """The mu of the GDP curve under an epsilon-DP mechanism's trade-off curve: -2 Phi^-1(1 / (1 + e^eps))."""
    if epsilon <= 0:
        raise ValueError(f"epsilon must be positive, got {epsilon}")
    return -2.0 * float(norm.ppf(1.0 / (1.0 + math.exp(epsilon))))


def pure_dp_epsilon(*, mu: float) -> float:
    """The inverse of `pure_dp_mu`: the epsilon of an epsilon-DP mechanism that costs mu in GDP."""
    if mu <= 0:
        raise ValueError(f"mu must be positive, got {mu}")
    return math.log(1.0 / float(norm.cdf(-mu / 2.0)) - 1.0)


def gdp_delta(*, epsilon: float, mu: float) -> float:
    return float(norm.cdf(-epsilon / mu + mu / 2) - math.exp(epsilon) * norm.cdf(-epsilon / mu - mu / 2))


def gdp_epsilon(*, mu: float, delta: float) -> float:
    """The smallest epsilon at which mu-GDP is (epsilon, delta)-DP (delta(epsilon) falls with epsilon)."""
    if mu <= 0:
        return 0.0
    if gdp_delta(epsilon=0.0, mu=mu) <= delta:
        return 0.0
    high = 1.0
    while gdp_delta(epsilon=high, mu=mu) > delta:
        high *= 2
    # brentq's root is within xtol of the exact one; stepping up past the tolerance keeps the figure an upper bound.
    root = brentq(lambda eps: gdp_delta(epsilon=eps, mu=mu) - delta, 0.0, high, xtol=1e-15)
    return root * (1 + 1e-9) + 1e-14


def gdp_mu(*, epsilon: float, delta: float) -> float:
    """The largest mu whose GDP curve is (epsilon, delta)-DP: the whole budget of a fit made only of GDP charges."""
    if not epsilon > 0 or not 0 < delta < 1:
        raise ValueError("need epsilon > 0 and 0 < delta < 1")
    high = 1.0
    while gdp_delta(epsilon=epsilon, mu=high) < delta:
        high *= 2
    # A relative margin below the root, wider than gdp_epsilon's rounding up, so that a run spending it in many
    # floating-point parts still reports at most the target, down to the smallest budgets a spec may ask.
    return brentq(lambda mu: gdp_delta(epsilon=epsilon, mu=mu) - delta, 1e-9, high, xtol=1e-15) * (1 - 1e-6)
