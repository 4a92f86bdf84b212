"""`synth-pipeline budget [DATASET] [--json]`."""

from __future__ import annotations

import json

import pytest

from synth_pipeline.cli import main as cli
from synth_pipeline.privacy.ledger import open_ledger

HASH = "c" * 64


@pytest.fixture
def charged(project, state_dir):
    """The project's own config/ledger.yaml; adult_income with one spent and one reserved charge."""
    with open_ledger(project) as ledger:
        for run_id, epsilon in (("manual__2026-01-01T00:00:00+00:00", 1.0), ("manual__2026-02-01T00:00:00+00:00", 0.5)):
            ledger.reserve(dataset="adult_income", release="adult_income", run_id=run_id, epsilon=epsilon, delta=5e-6,
                           mechanism="generator=test", spec_hash=HASH)
        ledger.begin_fit(dataset="adult_income", release="adult_income", run_id="manual__2026-01-01T00:00:00+00:00",
                         spec_hash=HASH)
    return project


def test_budget_shows_every_dataset_then_its_entries(charged, capsys):
    assert cli(["budget", "--project", str(charged)]) == 0
    out = capsys.readouterr().out
    adult = out.split("\n\n")[0].splitlines()
    assert adult[0] == "adult_income"
    assert adult[2].split() == ["epsilon", "10", "1", "0.5", "8.5"]  # lifetime, spent, reserved, remaining
    assert adult[3].split() == ["delta", "2e-05", "5e-06", "5e-06", "1e-05"]
    assert "#1    spent" in adult[4] and "run manual__2026-01-01T00:00:00+00:00  attempt 1" in adult[4]
    assert "#2    reserved" in adult[5] and "generator=test" in adult[5]
    assert all(name in out for name in ("heart_disease", "synthea_patients", "bank_marketing"))
    assert out.count("no charges") == 3


def test_budget_for_one_dataset_as_json(charged, capsys):
    assert cli(["budget", "adult_income", "--json", "--project", str(charged)]) == 0
    [standing] = json.loads(capsys.readouterr().out)
    assert standing["dataset"] == "adult_income" and standing["composition"] == "basic"
    assert standing["spent"] == {"epsilon": 1.0, "delta": 5e-6}
    assert standing["reserved"] == {"epsilon": 0.5, "delta": 5e-6}
    assert standing["remaining"]["epsilon"] == pytest.approx(8.5)
    assert [(e["id"], e["status"]) for e in standing["entries"]] == [(1, "spent"), (2, "reserved")]


def test_every_fit_attempt_is_listed_and_counted(charged, capsys):
    with open_ledger(charged) as ledger:
        for _ in range(2):  # the run fits twice more: each fit is a charge of its own
            ledger.begin_fit(dataset="adult_income", release="adult_income",
                             run_id="manual__2026-01-01T00:00:00+00:00", spec_hash=HASH)
    assert cli(["budget", "adult_income", "--project", str(charged)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split() == ["epsilon", "10", "3", "0.5", "6.5"]
    attempts = [line for line in lines if "run manual__2026-01-01T00:00:00+00:00" in line]
    assert [line.split("attempt ")[1].split()[0] for line in attempts] == ["1", "2", "3"]
    assert all(" spent " in line and "epsilon=1 " in line for line in attempts)
    assert cli(["budget", "adult_income", "--json", "--project", str(charged)]) == 0
    [standing] = json.loads(capsys.readouterr().out)
    assert [(e["run_id"][8:18], e["attempt"], e["status"]) for e in standing["entries"]] == [
        ("2026-01-01", 1, "spent"), ("2026-02-01", 1, "reserved"), ("2026-01-01", 2, "spent"),
        ("2026-01-01", 3, "spent")]


def test_budget_of_an_unknown_dataset_exits_2(charged, capsys):
    assert cli(["budget", "nowhere", "--project", str(charged)]) == 2
    assert "'nowhere' has no lifetime privacy budget" in capsys.readouterr().err


def test_a_dataset_whose_lifetime_was_removed_is_still_shown(charged, capsys, monkeypatch, tmp_path):
    config = tmp_path / "only_heart.yaml"
    config.write_text("datasets: {heart_disease: {epsilon: 6.0, delta: 3.0e-5}}")
    monkeypatch.setenv("SYNTH_PIPELINE_LEDGER_CONFIG", str(config))
    assert cli(["budget", "adult_income", "--project", str(charged)]) == 0
    out = capsys.readouterr().out
    assert "adult_income  (no lifetime configured: new charges are refused)" in out
    assert out.splitlines()[2].split() == ["epsilon", "-", "1", "0.5", "-"]


def test_budget_without_a_ledger_config_exits_2(tmp_path, state_dir, capsys):
    assert cli(["budget", "--project", str(tmp_path)]) == 2
    assert "config/ledger.yaml: cannot read it" in capsys.readouterr().err
