"""The accountant: pinned epsilons from independent sources, conversions, calibration that never overspends."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synth_pipeline.privacy.accounting import (
    ORDERS,
    Accountant,
    RdpCurve,
    epsilon_of_rho,
    exponential_epsilon,
    exponential_rho,
    gaussian_rho,
    gaussian_sigma,
    noise_multiplier_for_budget,
    rho_for_budget,
    subsampled_gaussian_curve,
    zcdp_curve,
)


def test_dp_sgd_epsilon_matches_opacus_own_pinned_value():
    # opacus/tests/accountants_test.py: RDP, noise 1.5, rate 0.04, 90 epochs, delta 1e-5 -> 7.32911117143.
    curve = subsampled_gaussian_curve(noise_multiplier=1.5, sample_rate=0.04, steps=int(90 / 0.04))
    assert curve.epsilon(delta=1e-5) == pytest.approx(7.32911117143, abs=1e-8)


def test_abadi_et_al_moments_accountant_example():
    # Abadi et al. 2016, section 3.1: q = 0.01, sigma = 4, T = 10,000, delta = 1e-5 gives epsilon ~ 1.26 with the
    # moments accountant's conversion, epsilon = min over orders of r(alpha) + log(1/delta) / (alpha - 1).
    curve = subsampled_gaussian_curve(noise_multiplier=4.0, sample_rate=0.01, steps=10_000)
    alphas, values = np.asarray(ORDERS), np.asarray(curve.values)
    classic = float(np.min(values + math.log(1 / 1e-5) / (alphas - 1)))
    assert classic == pytest.approx(1.26, abs=0.005)
    # The conversion we use (Balle et al. 2020) is tighter, never looser.
    assert curve.epsilon(delta=1e-5) == pytest.approx(1.03549, abs=1e-4)
    assert curve.epsilon(delta=1e-5) < classic


def test_full_batch_gaussian_is_the_zcdp_curve():
    # Without subsampling, one Gaussian step with noise multiplier z is exactly 1 / (2 z^2)-zCDP.
    curve = subsampled_gaussian_curve(noise_multiplier=2.0, sample_rate=1.0, steps=3)
    expected = zcdp_curve(rho=3 * gaussian_rho(sensitivity=1.0, sigma=2.0))
    finite = [i for i, a in enumerate(ORDERS) if a <= 1024]
    assert np.allclose(np.asarray(curve.values)[finite], np.asarray(expected.values)[finite])


@pytest.mark.parametrize("rho", [1e-4, 0.01, 0.0305527, 0.5, 1.78])
def test_rho_to_epsilon_is_tighter_than_bun_steinke(rho):
    # Bun & Steinke 2016, Prop. 1.3: rho-zCDP implies (rho + 2 sqrt(rho log(1/delta)), delta)-DP.
    delta = 1e-5
    epsilon = epsilon_of_rho(rho=rho, delta=delta)
    assert rho < epsilon <= rho + 2 * math.sqrt(rho * math.log(1 / delta))


@pytest.mark.parametrize(("epsilon", "rho"), [(1.0, 0.0305527), (10.0, 1.78269), (0.1, 0.00043277)])
def test_zcdp_budget_for_a_target_is_pinned_and_inverts(epsilon, rho):
    found = rho_for_budget(epsilon=epsilon, delta=1e-5, spent=RdpCurve.zero())
    assert found == pytest.approx(rho, rel=1e-4)
    assert epsilon_of_rho(rho=found, delta=1e-5) <= epsilon
    assert epsilon_of_rho(rho=found * 1.001, delta=1e-5) > epsilon


def test_noise_multiplier_matches_opacus_calibration():
    # opacus/tests/accountants_test.py: epsilon 8, delta 1e-5, rate 0.04, 2000 steps -> 1.3562 (RDP).
    noise = noise_multiplier_for_budget(epsilon=8, delta=1e-5, sample_rate=0.04, steps=2000, spent=RdpCurve.zero())
    assert noise == pytest.approx(1.3562, abs=1e-3)


@pytest.mark.parametrize(("epsilon", "rate", "steps", "spent_rho"), [
    (1.0, 0.03, 640, 0.0), (1.0, 0.03, 640, 0.0003), (10.0, 0.06, 320, 0.02), (0.3, 0.01, 1000, 0.0), (3.0, 1.0, 5, 0.1),
])
def test_calibrated_spend_never_exceeds_the_target(epsilon, rate, steps, spent_rho):
    spent = zcdp_curve(rho=spent_rho)
    noise = noise_multiplier_for_budget(epsilon=epsilon, delta=1e-5, sample_rate=rate, steps=steps, spent=spent)
    total = (spent + subsampled_gaussian_curve(noise_multiplier=noise, sample_rate=rate, steps=steps)).epsilon(delta=1e-5)
    assert total <= epsilon
    assert total > 0.99 * epsilon  # and wastes almost nothing
    rho = rho_for_budget(epsilon=epsilon, delta=1e-5, spent=spent)
    assert (spent + zcdp_curve(rho=rho)).epsilon(delta=1e-5) <= epsilon


def test_mechanism_conversions():
    assert exponential_rho(epsilon=0.4) == pytest.approx(0.02)  # Cesar & Rogers: epsilon^2 / 8
    assert exponential_epsilon(rho=0.02) == pytest.approx(0.4)
    assert gaussian_rho(sensitivity=2.0, sigma=4.0) == pytest.approx(0.125)  # Delta^2 / (2 sigma^2)
    assert gaussian_sigma(sensitivity=2.0, rho=0.125) == pytest.approx(4.0)


def test_accountant_composes_by_adding_curves():
    accountant = Accountant()
    accountant.gaussian(purpose="a", sensitivity=1.0, sigma=10.0)
    accountant.exponential(purpose="b", epsilon=0.1)
    accountant.subsampled_gaussian(purpose="c", noise_multiplier=1.0, sample_rate=0.01, steps=100)
    expected = (zcdp_curve(rho=1 / 200 + 0.1**2 / 8)
                + subsampled_gaussian_curve(noise_multiplier=1.0, sample_rate=0.01, steps=100))
    assert accountant.epsilon(delta=1e-6) == pytest.approx(expected.epsilon(delta=1e-6))
    report = accountant.report(delta=1e-6)
    assert [c["mechanism"] for c in report["charges"]] == ["gaussian", "exponential", "subsampled_gaussian"]
    assert report["charges"][0]["sigma"] == 10.0


@pytest.mark.parametrize("call", [
    lambda: rho_for_budget(epsilon=0.0, delta=1e-5, spent=RdpCurve.zero()),
    lambda: rho_for_budget(epsilon=1.0, delta=1.0, spent=RdpCurve.zero()),
    lambda: rho_for_budget(epsilon=1.0, delta=1e-5, spent=zcdp_curve(rho=1.0)),  # already over budget
    lambda: noise_multiplier_for_budget(epsilon=-1.0, delta=1e-5, sample_rate=0.1, steps=10, spent=RdpCurve.zero()),
    lambda: subsampled_gaussian_curve(noise_multiplier=1.0, sample_rate=1.5, steps=1),
    lambda: gaussian_sigma(sensitivity=1.0, rho=0.0),
    lambda: RdpCurve((1.0,)),
])
def test_invalid_privacy_arguments_are_refused(call):
    with pytest.raises(ValueError):
        call()
