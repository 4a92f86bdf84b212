"""The budgets page: each ledger dataset's lifetime, spent, reserved and remaining, and every charge."""

from __future__ import annotations

import pytest
from boardsupport import BOARD

from synth_pipeline.privacy.ledger import open_ledger


@pytest.fixture
def charges(board):
    """Charges made through the ledger's API: a spent run fitted twice, a released run and a live reservation."""
    with open_ledger(board) as ledger:
        common = {"dataset": "heart_disease", "release": "heart_disease", "spec_hash": "a" * 64}
        ledger.reserve(**common, run_id="manual__one", epsilon=2.0, delta=1e-5, mechanism="aim")
        ledger.begin_fit(**common, run_id="manual__one")
        ledger.begin_fit(**common, run_id="manual__one")  # a re-fit: attempt 2, charged again
        ledger.reserve(**common, run_id="manual__two", epsilon=1.0, delta=1e-6, mechanism="aim")
        ledger.release_unspent(dataset="heart_disease", release="heart_disease", run_id="manual__two")
        ledger.reserve(**common, run_id="manual__three", epsilon=0.5, delta=1e-6, mechanism="aim")
    return board


def test_each_dataset_with_every_charge(client, auth, charges):
    viewer = auth("analyst", "viewer")
    datasets = {d["dataset"]: d for d in client.get(f"{BOARD}/api/budgets", headers=viewer).json()["datasets"]}
    assert set(datasets) == {"adult_income", "bank_marketing", "heart_disease", "synthea_patients"}  # all configured
    heart = datasets["heart_disease"]
    assert heart["lifetime"] == {"epsilon": 6.0, "delta": 3e-5}
    assert heart["spent"] == {"epsilon": 4.0, "delta": 2e-5}
    assert heart["reserved"] == {"epsilon": 0.5, "delta": 1e-6}
    assert heart["remaining"]["epsilon"] == pytest.approx(1.5)
    assert [(e["run_id"], e["attempt"], e["status"]) for e in heart["entries"]] == [
        ("manual__one", 1, "spent"), ("manual__one", 2, "spent"), ("manual__two", 1, "released"),
        ("manual__three", 1, "reserved")]
    assert datasets["adult_income"]["entries"] == []

    page = client.get(f"{BOARD}/budgets", headers=viewer)
    assert page.status_code == 200
    text = page.text
    section = text[text.index("<h2>heart_disease"):text.index("</section>", text.index("<h2>heart_disease"))]
    assert "4 charge(s), newest first" in section
    assert section.index("manual__three") < section.index("manual__two") < section.index("manual__one")
    assert "<td>released</td>" in section and "<td>reserved</td>" in section
    assert '<td class=n>2</td><td>aim</td>' in section  # attempt 2 of manual__one
    assert "<td class=n>1.5</td>" in section  # remaining epsilon


def test_a_dataset_charged_but_no_longer_configured_is_shown(client, auth, charges):
    config = charges / "config" / "ledger.yaml"
    text = config.read_text()
    start = text.index("  heart_disease:")
    end = text.index("\n  synthea_patients:")
    config.write_text(text[:start] + text[end + 1:])
    viewer = auth("analyst", "viewer")
    heart = [d for d in client.get(f"{BOARD}/api/budgets", headers=viewer).json()["datasets"]
             if d["dataset"] == "heart_disease"][0]
    assert heart["lifetime"] == {"epsilon": None, "delta": None} and len(heart["entries"]) == 4
    assert "no lifetime configured" in client.get(f"{BOARD}/budgets", headers=viewer).text


def test_an_unreadable_ledger_config_is_503_with_the_reason(client, auth, board):
    (board / "config" / "ledger.yaml").write_text("datasets: [not, a, mapping]\n")
    response = client.get(f"{BOARD}/api/budgets", headers=auth("analyst", "viewer"))
    assert response.status_code == 503 and "ledger config" in response.json()["detail"]


def test_a_new_charge_and_a_settled_one_show_at_once(client, auth, charges):
    viewer = auth("analyst", "viewer")

    def heart() -> dict:
        return [d for d in client.get(f"{BOARD}/api/budgets", headers=viewer).json()["datasets"]
                if d["dataset"] == "heart_disease"][0]

    assert len(heart()["entries"]) == 4
    with open_ledger(charges) as ledger:
        ledger.reserve(dataset="heart_disease", release="heart_disease", run_id="manual__four", epsilon=0.25,
                       delta=0.0, mechanism="aim", spec_hash="a" * 64)
    assert heart()["entries"][-1]["run_id"] == "manual__four" and heart()["reserved"]["epsilon"] == 0.75
    with open_ledger(charges) as ledger:
        ledger.begin_fit(dataset="heart_disease", release="heart_disease", run_id="manual__three",
                         spec_hash="a" * 64)
    assert heart()["spent"]["epsilon"] == 4.5 and heart()["reserved"]["epsilon"] == 0.25
