"""The data card's privacy block and estimated domains, from real accountant reports and real encoded domains (the
review's finding 13: the card dropped the spend and showed max + 1 for estimated integer bounds)."""

from __future__ import annotations

import json

import pytest

from synth_pipeline.domain import build_domain
from synth_pipeline.privacy.accounting import Accountant
from synth_pipeline.privacy.estimation import ColumnEstimate, EstimationReport
from synth_pipeline.report.data_card import render_data_card
from synth_pipeline.spec import CategoricalColumn, NumericColumn
from synth_pipeline.steps.report import _estimated_domains, _public_privacy


def _aim_like(delta: float) -> dict:
    accountant = Accountant()
    for _ in range(3):
        accountant.gaussian(purpose="one-way marginal", sensitivity=1, sigma=20.0)
    for _ in range(2):
        accountant.exponential(purpose="choose a marginal", epsilon=0.05)
        accountant.gaussian(purpose="chosen marginal", sensitivity=1, sigma=15.0)
    return {**accountant.report(delta=delta), "target_epsilon": 1.5, "unit": "row"}


def _dpsgd_like(delta: float) -> dict:
    accountant = Accountant()
    accountant.gaussian(purpose="row count (sample rate, released rows)", sensitivity=1, sigma=50.0)
    accountant.subsampled_gaussian(purpose="DP-SGD", noise_multiplier=1.1, sample_rate=0.01, steps=300)
    return {**accountant.report(delta=delta), "target_epsilon": 1.5, "unit": "row"}


ESTIMATION = EstimationReport((
    ColumnEstimate("ward", "thresholded_laplace_histogram", 0.25, 1e-6, {"categories": 3}),
    ColumnEstimate("age", "exponential_mechanism_quantiles", 0.25, 0.0, {"min": 20.0, "max": 80.0}),
)).to_dict()

PRIVACY_CASES = [
    # (generator report, estimation report, mechanisms expected on the card)
    (_aim_like(1e-5), None, [("gaussian", "one-way marginal", 3), ("exponential", "choose a marginal", 2),
                             ("gaussian", "chosen marginal", 2)]),
    (_aim_like(1e-5 - 1e-6), ESTIMATION, None),
    (_dpsgd_like(1e-5), None, [("gaussian", "row count (sample rate, released rows)", 1),
                               ("subsampled_gaussian", "DP-SGD", 1)]),
]


DECISION = {"passed": True, "mechanism": "laplace noisy threshold test", "epsilon": 0.1, "delta": 0.0,
            "noise_scale": 10.0, "gates": []}


@pytest.mark.parametrize("decision", [None, DECISION], ids=["no-decision", "decision"])
@pytest.mark.parametrize("generator,estimation,mechanisms", PRIVACY_CASES, ids=["aim", "aim+estimation", "dpsgd"])
def test_the_card_states_the_epsilon_actually_spent(generator, estimation, mechanisms, decision):
    public = _public_privacy({"epsilon": 2.0, "delta": 1e-5, "generator": generator, "estimation": estimation},
                             decision)
    spent_on_estimation = estimation["epsilon_spent"] if estimation else 0.0
    spent_on_decision = decision["epsilon"] if decision else 0.0
    assert public["epsilon_spent"] == pytest.approx(generator["epsilon"] + spent_on_estimation + spent_on_decision)
    assert ("release_decision" in public) == (decision is not None)
    assert 0 < public["epsilon_spent"] <= 2.0 and public["delta_spent"] == pytest.approx(1e-5)
    assert public["generator_epsilon_spent"] == generator["epsilon"] and public["accountant"] == "rdp"
    if mechanisms is not None:
        assert [(m["mechanism"], m["purpose"], m["uses"]) for m in public["mechanisms"]] == mechanisms
    assert ("domain_estimation" in public) == (estimation is not None)
    assert public["composition"].startswith("basic") == (estimation is not None or decision is not None)
    assert "unit" not in public  # the card words the unit itself, from the spec


DOMAIN_CASES = [
    # (estimated column, what the card says)
    (NumericColumn(type="integer", min=20, max=80), "20 .. 80 (estimated under DP)"),
    (NumericColumn(type="integer", min=0, max=99_999), "0 .. 99999 (estimated under DP)"),  # binned, not per value
    (NumericColumn(type="float", min=-2.5, max=7.25), "-2.5 .. 7.25 (estimated under DP)"),
    (CategoricalColumn(type="categorical", categories=("a", "b", "c")), "3 categories (estimated under DP)"),
]


@pytest.mark.parametrize("column,described", DOMAIN_CASES, ids=["integer", "wide-integer", "float", "categories"])
def test_estimated_domains_show_the_bounds_the_model_was_trained_on(tmp_path, column, described):
    model = tmp_path / "train" / "model"
    model.mkdir(parents=True)
    domain = build_domain({"x": column}, numeric_bins=16)
    (model / "model.json").write_text(json.dumps({"domain": domain.describe()}))
    assert _estimated_domains(tmp_path, {"columns": {"x": {}}}) == {"x": described}
    assert _estimated_domains(tmp_path, None) == {}


def test_the_rendered_card_shows_the_spend_and_the_mechanisms():
    privacy = {"epsilon": 2.0, "delta": 1e-5, "unit": "one row",
               **_public_privacy({"generator": _aim_like(1e-5 - 1e-6), "estimation": ESTIMATION}, DECISION)}
    card = {"release": "r", "description": "d", "purpose": "p", "retention_days": 30, "rows": 3, "columns": {},
            "not_released": {}, "generator": {"name": "aim"}, "privacy": privacy, "gates": {},
            "how_to_read": "h"}
    page = render_data_card(card)
    assert "epsilon spent" in page and f"{privacy['epsilon_spent']:.4g}" in page
    assert "purpose one-way marginal, uses 3" in page and "columns age; ward" in page
    assert "{&#x27;" not in page and "{'" not in page  # no raw mappings in the tables
