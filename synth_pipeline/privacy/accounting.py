"""The privacy accountant: every mechanism as a Rényi-DP curve, composed by addition, converted to (epsilon, delta).

One family covers the whole pipeline, so a single (epsilon, delta) bounds everything a run does with the data:

- Rényi DP (Mironov 2017): a mechanism is (alpha, r(alpha))-RDP at every order alpha > 1; composition adds the
  curves order by order (Mironov 2017, Prop. 1).
- zCDP (Bun & Steinke 2016) is RDP with a linear curve: rho-zCDP means r(alpha) = rho * alpha for every alpha.
  * Gaussian mechanism, L2 sensitivity Delta, noise N(0, sigma^2): rho = Delta^2 / (2 sigma^2) (Bun & Steinke
    2016, Prop. 1.6).
  * Exponential mechanism at epsilon (score sensitivity Delta, selection probability proportional to
    exp(epsilon * score / (2 Delta))): it is epsilon-bounded-range, hence epsilon^2 / 8 zCDP (Cesar & Rogers 2021,
    "Bounding, concentrating, and truncating", Lemma 3.2), as AIM accounts it.
- DP-SGD: the Poisson-subsampled Gaussian, T steps at sample rate q and noise multiplier z, through Opacus' RDP
  analysis (Mironov, Talwar & Zhang 2019, as in `opacus.accountants.analysis.rdp`).
- RDP to (epsilon, delta): epsilon = min over alpha of r(alpha) + log((alpha - 1) / alpha)
  - (log(delta) + log(alpha)) / (alpha - 1) (Balle et al. 2020, Thm. 21; Canonne, Kamath & Steinke 2020, Prop. 12),
  the conversion Opacus uses, evaluated on a fixed grid of orders. A grid only loses tightness, never soundness:
  each order gives a valid bound.

Privacy arguments are keyword-only and have no defaults.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
from opacus.accountants.analysis import rdp as opacus_rdp

from synth_pipeline.privacy import tight

# Opacus' default orders (1.1 ... 63), extended upward so that small budgets (optimal order in the hundreds) and
# zCDP curves still find their best order on the grid.
ORDERS: tuple[float, ...] = tuple([1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))
                                  + [64, 80, 96, 128, 160, 192, 256, 384, 512, 768, 1024, 1536, 2048, 4096])
_ALPHAS = np.asarray(ORDERS, dtype=np.float64)


@dataclass(frozen=True)
class RdpCurve:
    """RDP guarantee at every order of ORDERS (np.inf where a mechanism gives none)."""

    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.values) != len(ORDERS):
            raise ValueError(f"an RDP curve needs {len(ORDERS)} values, got {len(self.values)}")
        if any(v < 0 or math.isnan(v) for v in self.values):
            raise ValueError("RDP values must be non-negative numbers")

    @classmethod
    def zero(cls) -> RdpCurve:
        return cls(tuple(0.0 for _ in ORDERS))

    def __add__(self, other: RdpCurve) -> RdpCurve:
        # Adaptive composition of RDP mechanisms adds their curves order by order (Mironov 2017, Prop. 1).
        return RdpCurve(tuple(a + b for a, b in zip(self.values, other.values)))

    def epsilon(self, *, delta: float) -> float:
        """The smallest epsilon over the grid such that the composition is (epsilon, delta)-DP."""
        if not 0 < delta < 1:
            raise ValueError(f"delta must lie in (0, 1), got {delta}")
        rdp = np.asarray(self.values)
        if not np.isfinite(rdp).any():
            return math.inf
        if not rdp.any():
            return 0.0
        with np.errstate(invalid="ignore"):
            eps = (rdp - (math.log(delta) + np.log(_ALPHAS)) / (_ALPHAS - 1) + np.log((_ALPHAS - 1) / _ALPHAS))
        # The formula can dip below zero for a tiny curve and large delta; epsilon is never negative.
        return max(float(np.nanmin(eps)), 0.0)


def zcdp_curve(*, rho: float) -> RdpCurve:
    """rho-zCDP as an RDP curve: r(alpha) = rho * alpha (Bun & Steinke 2016, Def. 1.1)."""
    if rho < 0:
        raise ValueError(f"rho must be non-negative, got {rho}")
    return RdpCurve(tuple(float(rho * a) for a in ORDERS))


def gaussian_rho(*, sensitivity: float, sigma: float) -> float:
    """zCDP of adding N(0, sigma^2) to a query of L2 sensitivity Delta: Delta^2 / (2 sigma^2)."""
    if sigma <= 0 or sensitivity <= 0:
        raise ValueError("sigma and sensitivity must be positive")
    return sensitivity**2 / (2 * sigma**2)


def gaussian_sigma(*, sensitivity: float, rho: float) -> float:
    """The noise scale that makes the Gaussian mechanism rho-zCDP: sigma = Delta / sqrt(2 rho)."""
    if rho <= 0 or sensitivity <= 0:
        raise ValueError("rho and sensitivity must be positive")
    return sensitivity / math.sqrt(2 * rho)


def exponential_rho(*, epsilon: float) -> float:
    """zCDP of the epsilon-DP exponential mechanism: epsilon^2 / 8 (Cesar & Rogers 2021)."""
    if epsilon <= 0:
        raise ValueError(f"epsilon must be positive, got {epsilon}")
    return epsilon**2 / 8


def exponential_epsilon(*, rho: float) -> float:
    """The exponential mechanism's epsilon for a zCDP share rho: sqrt(8 rho)."""
    if rho <= 0:
        raise ValueError(f"rho must be positive, got {rho}")
    return math.sqrt(8 * rho)


# Opacus' series for the subsampled Gaussian costs O(order) per order and overflows to NaN past about 1024;
# above this order the curve claims nothing (inf), which is always sound.
_MAX_SUBSAMPLED_ORDER = 1024


@functools.lru_cache(maxsize=4096)
def _subsampled_gaussian_step(noise_multiplier: float, sample_rate: float) -> tuple[float, ...]:
    orders = [a for a in ORDERS if a <= _MAX_SUBSAMPLED_ORDER]
    values = opacus_rdp.compute_rdp(q=sample_rate, noise_multiplier=noise_multiplier, steps=1, orders=orders)
    values = [math.inf if math.isnan(v) else float(v) for v in values]
    return tuple(values) + (math.inf,) * (len(ORDERS) - len(orders))


def subsampled_gaussian_curve(*, noise_multiplier: float, sample_rate: float, steps: int) -> RdpCurve:
    """DP-SGD: `steps` Poisson-subsampled Gaussian steps (Opacus' RDP analysis, Mironov et al. 2019); the steps
    compose, so the curve is `steps` times one step's."""
    if noise_multiplier <= 0 or not 0 < sample_rate <= 1 or steps < 0:
        raise ValueError("need noise_multiplier > 0, 0 < sample_rate <= 1 and steps >= 0")
    one_step = _subsampled_gaussian_step(float(noise_multiplier), float(sample_rate))
    return RdpCurve(tuple(0.0 if steps == 0 else v * steps for v in one_step))


def epsilon_of_rho(*, rho: float, delta: float) -> float:
    return zcdp_curve(rho=rho).epsilon(delta=delta)


def rho_for_budget(*, epsilon: float, delta: float, spent: RdpCurve) -> float:
    """The largest rho such that `spent` plus rho-zCDP stays within (epsilon, delta): the zCDP budget left."""
    _check_target(epsilon, delta)
    if spent.epsilon(delta=delta) >= epsilon:
        raise ValueError(f"the mechanisms already charged spend epsilon {spent.epsilon(delta=delta):.4g} of {epsilon}")
    low, high = 0.0, epsilon  # rho-zCDP implies (rho + ..., delta)-DP with epsilon > rho, so rho < epsilon
    for _ in range(100):
        middle = (low + high) / 2
        if (spent + zcdp_curve(rho=middle)).epsilon(delta=delta) <= epsilon:
            low = middle
        else:
            high = middle
    # A relative margin, so that a generator splitting rho into many floating-point parts stays within the target.
    return low * (1 - 1e-9)


def noise_multiplier_for_budget(*, epsilon: float, delta: float, sample_rate: float, steps: int,
                                spent: RdpCurve) -> float:
    """The smallest DP-SGD noise multiplier (to 1e-4 relative) such that `spent` plus `steps` subsampled Gaussian
    steps at `sample_rate` stays within (epsilon, delta)."""
    _check_target(epsilon, delta)

    def total(noise: float) -> float:
        return (spent + subsampled_gaussian_curve(noise_multiplier=noise, sample_rate=sample_rate,
                                                  steps=steps)).epsilon(delta=delta)

    low, high = 0.0, 1.0
    while total(high) > epsilon:
        low, high = high, high * 2
        if high > 1e4:
            raise ValueError(f"no noise multiplier reaches epsilon {epsilon} with the mechanisms already charged")
    while high - low > 1e-4 * high:
        middle = (low + high) / 2
        if total(middle) > epsilon:
            low = middle
        else:
            high = middle
    return high


def _check_target(epsilon: float, delta: float) -> None:
    if not epsilon > 0 or not math.isfinite(epsilon):
        raise ValueError(f"epsilon must be a positive number, got {epsilon}")
    if not 0 < delta < 1:
        raise ValueError(f"delta must lie in (0, 1), got {delta}")


@dataclass(frozen=True)
class Charge:
    """One mechanism's use of the data: what it was, its parameters (noise, rates; never data) and its curve."""

    mechanism: str
    purpose: str
    details: dict
    curve: RdpCurve
    mu_squared: float | None = None  # its GDP cost (sum of mu^2 over its parts); None where it has no GDP bound


# How a fit's charges become its (epsilon, delta). "rdp": the RDP curves' sum, converted. "gdp": Gaussian DP
# (`tight.py`), exact for Gaussian measurements; a fit that plans with it never holds a charge without a GDP bound.
# Both are privacy filters under fully adaptive composition, so a fit may choose its next mechanism from its
# earlier outputs as long as the planned total holds: RDP (Feldman & Zrnic 2021), GDP (Smith & Thakurta 2022).
ACCOUNTING_METHODS = ("rdp", "gdp")


@dataclass
class Accountant:
    """The charges of one fit, in order; their composition, by `method`, is the fit's spend."""

    charges: list[Charge] = field(default_factory=list)
    method: str = "rdp"

    def __post_init__(self) -> None:
        if self.method not in ACCOUNTING_METHODS:
            raise ValueError(f"unknown accounting method {self.method!r}; known: {', '.join(ACCOUNTING_METHODS)}")

    def charge(self, *, mechanism: str, purpose: str, curve: RdpCurve, mu_squared: float | None = None,
               **details: float) -> None:
        if self.method == "gdp" and mu_squared is None:
            raise ValueError(f"a GDP-accounted fit cannot hold a {mechanism} charge: it has no GDP bound")
        self.charges.append(Charge(mechanism, purpose, dict(details), curve, mu_squared))

    def gaussian(self, *, purpose: str, sensitivity: float, sigma: float, count: int = 1) -> None:
        """`count` Gaussian measurements at the same sensitivity and noise."""
        rho = count * gaussian_rho(sensitivity=sensitivity, sigma=sigma)
        self.charge(mechanism="gaussian", purpose=purpose, curve=zcdp_curve(rho=rho), sensitivity=sensitivity,
                    sigma=sigma, count=count, rho=rho,
                    mu_squared=count * tight.gaussian_mu(sensitivity=sensitivity, sigma=sigma) ** 2)

    def exponential(self, *, purpose: str, epsilon: float) -> None:
        rho = exponential_rho(epsilon=epsilon)
        self.charge(mechanism="exponential", purpose=purpose, curve=zcdp_curve(rho=rho), epsilon=epsilon, rho=rho,
                    mu_squared=tight.pure_dp_mu(epsilon=epsilon) ** 2)

    def subsampled_gaussian(self, *, purpose: str, noise_multiplier: float, sample_rate: float, steps: int) -> None:
        curve = subsampled_gaussian_curve(noise_multiplier=noise_multiplier, sample_rate=sample_rate, steps=steps)
        self.charge(mechanism="subsampled_gaussian", purpose=purpose, curve=curve, noise_multiplier=noise_multiplier,
                    sample_rate=sample_rate, steps=steps)

    @property
    def curve(self) -> RdpCurve:
        total = RdpCurve.zero()
        for charge in self.charges:
            total = total + charge.curve
        return total

    @property
    def mu(self) -> float:
        """The fit's GDP parameter: GDP composes by adding mu^2 (Dong, Roth & Su 2022, Cor. 3.3)."""
        return math.sqrt(sum(c.mu_squared for c in self.charges))

    def epsilon(self, *, delta: float) -> float:
        if self.method == "gdp":
            return tight.gdp_epsilon(mu=self.mu, delta=delta)
        return self.curve.epsilon(delta=delta)

    def report(self, *, delta: float) -> dict:
        """JSON-ready: the spend at `delta` and each charge (mechanism, purpose, parameters)."""
        extra = {"mu": self.mu, "rdp_epsilon_for_comparison": self.curve.epsilon(delta=delta)} \
            if self.method == "gdp" else {}
        return {"epsilon": self.epsilon(delta=delta), "delta": delta, "accountant": self.method, **extra,
                "charges": [{"mechanism": c.mechanism, "purpose": c.purpose, **c.details} for c in self.charges]}
