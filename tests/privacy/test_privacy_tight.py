"""Gaussian DP: each conversion pinned to a published or independently computed figure, and its inverse."""

from __future__ import annotations

import math

import pytest
from opacus.accountants.analysis import gdp as opacus_gdp
from scipy.stats import norm

from synth_pipeline.privacy import tight
from synth_pipeline.privacy.accounting import Accountant


@pytest.mark.parametrize("mu", [0.05, 0.27, 1.0, 2.0, 5.0])
def test_gdp_epsilon_matches_opacus_dual_and_is_an_upper_bound(mu):
    found = tight.gdp_epsilon(mu=mu, delta=1e-5)
    assert found == pytest.approx(opacus_gdp.eps_from_mu(mu=mu, delta=1e-5), rel=1e-8)
    assert tight.gdp_delta(epsilon=found, mu=mu) <= 1e-5  # the figure is on the safe side of the root


@pytest.mark.parametrize(("epsilon", "delta", "mu"), [(1.0, 1e-5, 0.26805), (10.0, 1e-5, 2.00045),
                                                      (0.1, 1e-6, 0.027545)])
def test_the_gdp_budget_for_a_target_is_pinned_and_inverts(epsilon, delta, mu):
    found = tight.gdp_mu(epsilon=epsilon, delta=delta)
    assert found == pytest.approx(mu, rel=1e-4)
    assert tight.gdp_epsilon(mu=found, delta=delta) <= epsilon
    assert tight.gdp_epsilon(mu=found * 1.001, delta=delta) > epsilon


@pytest.mark.parametrize("epsilon", [0.01, 0.3, 1.0, 4.0])
def test_pure_dp_mu_meets_the_epsilon_dp_trade_off_at_its_kink(epsilon):
    # f_{eps,0} has its kink at (a, a), a = 1 / (1 + e^eps); G_mu passes through it, below the chords elsewhere.
    mu = tight.pure_dp_mu(epsilon=epsilon)
    kink = 1 / (1 + math.exp(epsilon))
    assert norm.cdf(norm.ppf(1 - kink) - mu) == pytest.approx(kink, rel=1e-9)
    for alpha in (kink / 4, kink / 2, (1 + kink) / 2):
        pure = max(0.0, 1 - math.exp(epsilon) * alpha, math.exp(-epsilon) * (1 - alpha))
        assert norm.cdf(norm.ppf(1 - alpha) - mu) <= pure + 1e-12
    assert tight.pure_dp_epsilon(mu=mu) == pytest.approx(epsilon, rel=1e-9)


def test_gdp_accountant_composes_by_adding_mu_squared():
    accountant = Accountant(method="gdp")
    accountant.gaussian(purpose="a", sensitivity=1.0, sigma=4.0, count=3)
    accountant.exponential(purpose="b", epsilon=0.2)
    mu = math.sqrt(3 / 16 + tight.pure_dp_mu(epsilon=0.2) ** 2)
    assert accountant.mu == pytest.approx(mu)
    assert accountant.epsilon(delta=1e-5) == pytest.approx(tight.gdp_epsilon(mu=mu, delta=1e-5))
    report = accountant.report(delta=1e-5)
    assert report["accountant"] == "gdp" and report["mu"] == pytest.approx(mu)
    # Both bounds hold; which is tighter depends on the mix: GDP is exact for Gaussians, while an exponential
    # mechanism costs more as an epsilon-DP curve than as a bounded-range (zCDP) one.
    gaussians = Accountant(method="gdp")
    gaussians.gaussian(purpose="a", sensitivity=1.0, sigma=4.0, count=3)
    assert gaussians.epsilon(delta=1e-5) < gaussians.report(delta=1e-5)["rdp_epsilon_for_comparison"]


@pytest.mark.parametrize("call", [
    lambda: Accountant(method="gdp").subsampled_gaussian(purpose="x", noise_multiplier=1.0, sample_rate=0.1, steps=1),
    lambda: Accountant(method="pld"),
    lambda: tight.pure_dp_mu(epsilon=0.0),
    lambda: tight.gdp_mu(epsilon=1.0, delta=0.0),
    lambda: tight.gaussian_mu(sensitivity=1.0, sigma=0.0),
])
def test_invalid_gdp_uses_are_refused(call):
    with pytest.raises(ValueError):
        call()
