"""Gates fail closed: a missing figure fails, a gate that does not apply says why and passes."""

from __future__ import annotations

import math

import pytest

from synth_pipeline.evaluate.gates import gate, not_applicable, risk_gate, risk_verdicts, summary, utility_verdicts
from synth_pipeline.spec.evaluation import RiskGates, UtilityGates


@pytest.mark.parametrize(("value", "direction", "passed"), [
    (0.05, "max", True), (0.1, "max", True), (0.11, "max", False),
    (0.9, "min", True), (0.1, "min", True), (0.05, "min", False),
    (None, "max", False), (math.nan, "max", False), (None, "min", False),
])
def test_gate(value, direction, passed):
    assert gate("g", value, 0.1, direction).passed is passed


def test_a_missing_figure_says_so():
    verdict = gate("tvd_1way", None, 0.1, "max")
    assert "not computed" in verdict.describe() and "FAILED" in verdict.describe()
    assert not_applicable("tstr_ratio", 0.8, "min", "no target").passed


UTILITY = {"marginals": {"1": {"mean": 0.05}, "2": {"mean": 0.2}, "3": {"mean": 0.3}},
           "tstr": {"ratio": 0.9}, "association": {"mean_difference": 0.02},
           "queries": [{"name": "q", "mean_relative_error": 0.5}]}


def test_utility_verdicts():
    verdicts = {v.name: v.passed for v in utility_verdicts(UTILITY, UtilityGates())}
    assert verdicts == {"tvd_1way": True, "tvd_2way": False, "tstr_ratio": True}
    optional = UtilityGates(max_tvd_3way=0.25, max_association_difference=0.05, max_query_relative_error=0.2)
    verdicts = {v.name: v.passed for v in utility_verdicts(UTILITY, optional)}
    assert verdicts["tvd_3way"] is False and verdicts["association_difference"] is True
    assert verdicts["query q relative error"] is False


def test_utility_without_a_target_and_with_a_failed_check():
    verdicts = {v.name: v for v in utility_verdicts({"marginals": {"error": "KeyError"},
                                                     "tstr": {"not_applicable": "no target"}}, UtilityGates())}
    assert verdicts["tstr_ratio"].passed and "not applicable" in verdicts["tstr_ratio"].note
    assert not verdicts["tvd_1way"].passed and verdicts["tvd_1way"].value is None


RISK = {
    "distance": {"dcr_share": {"share_at_equal_sizes": 0.52}, "exact_matches": {"excess_rate": 0.0}},
    "singling_out": {"risk": 0.02}, "linkability": {"risk": 0.0}, "attribute_inference": {"max_risk": 0.05},
    "membership": {"advantage": 0.02, "advantage_lower_bound": -0.01, "dp_bound": 0.46},
}


def test_risk_verdicts():
    assert all(v.passed for v in risk_verdicts(RISK, RiskGates()))
    leaky = {**RISK, "membership": {"advantage": 0.6, "advantage_lower_bound": 0.55, "dp_bound": 0.46}}
    failed = {v.name for v in risk_verdicts(leaky, RiskGates()) if not v.passed}
    assert failed == {"membership_advantage", "membership_advantage_lower_limit"}
    assert "membership_advantage_lower_limit" not in {v.name for v in risk_verdicts(leaky, RiskGates(enforce_dp_bound=False))}


def test_risk_checks_that_did_not_run_fail_closed():
    verdicts = risk_verdicts({"linkability": {"not_applicable": "one column"}}, RiskGates())
    failed = {v.name for v in verdicts if not v.passed}
    assert "linkability_risk" not in failed
    assert {"dcr_share_at_equal_sizes", "exact_match_excess", "singling_out_risk", "attribute_inference_risk",
            "membership_advantage", "membership_advantage_lower_limit"} == failed
    assert summary("risk", verdicts).startswith("risk: 6 of 7 gates failed")


@pytest.mark.parametrize(("value", "interval", "passed"), [
    (0.19, (0.02, 0.36), True),  # above the gate, but the evidence does not say the risk is: the re-runs' 0.0 agree
    (0.05, (-0.1, 0.2), True),
    (0.30, (0.12, 0.48), False),  # even the interval's lower end is above: a real risk
    (0.30, None, False),  # no interval: the point estimate decides
    (None, (0.0, 0.1), False),  # not computed: fail closed
])
def test_an_estimated_risk_is_gated_on_its_interval_s_lower_end(value, interval, passed):
    verdict = risk_gate("attribute_inference_risk", value, interval, 0.1)
    assert verdict.passed is passed
    if interval is not None and value is not None:
        assert verdict.interval == interval and "lower end" in verdict.describe()


def test_risk_verdicts_read_each_risk_s_interval():
    risk = {**RISK, "singling_out": {"risk": 0.15, "confidence_interval": [0.01, 0.29]},
            "attribute_inference": {"max_risk": 0.2, "secrets": {"a": {"risk": 0.2, "confidence_interval": [0.05, 0.35]},
                                                                 "b": {"risk": 0.1, "confidence_interval": [0.12, 0.3]}}},
            "membership": {"advantage": 0.15, "advantage_lower_bound": 0.02, "dp_bound": 0.46, "strongest": "distance",
                           "attacks": {"distance": {"advantage": 0.15, "advantage_interval": [0.02, 0.28]}}}}
    verdicts = {v.name: v for v in risk_verdicts(risk, RiskGates())}
    assert verdicts["singling_out_risk"].passed and verdicts["membership_advantage"].passed
    # The largest lower end over the secrets (b's 0.12) is above the gate: some secret is at risk.
    assert not verdicts["attribute_inference_risk"].passed
    assert verdicts["attribute_inference_risk"].interval == (0.12, 0.35)
