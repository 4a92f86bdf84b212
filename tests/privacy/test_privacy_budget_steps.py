"""The split, charge_budget and settle_budget steps on run folders, with real SQLite and PostgreSQL ledgers."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from synth_pipeline.errors import BudgetExceeded, ConfigError, LedgerError, PrivacyConfigError, SpecError
from synth_pipeline.privacy.ledger import open_ledger
from synth_pipeline.runs import run_folder
from synth_pipeline.spec import load_spec
from synth_pipeline.steps import (
    mark_charge_spent,
    run_charge_budget,
    run_extract,
    run_harmonize,
    run_settle_budget,
    run_split,
)
from synth_pipeline.sources import RunContext

CANARY = "CANARY-7f3a-Visit-Note"
VISITS_SPEC = {
    "name": "clinic_visits", "description": "test visits", "owner": "tests", "purpose": "tests",
    "sources": {"visits": {"format": "csv", "path": "data/clinic_visits/visits.csv"}},
    "schema": {"patient": {"type": "string"}, "age": {"type": "integer", "min": 0, "max": 120},
               "ward": {"type": "categorical", "categories": ["a", "b", "c"]}, "note": {"type": "string"}},
    "privacy_unit": {"key": "patient", "max_rows": 3},
    "privacy": {"epsilon": 1.0, "delta": 1.0e-5, "min_individuals": 200},
    "generator": {"name": "aim"},
    "quality": {"suite": "expectations/clinic_visits.json"},
    "evaluation": {"holdout_fraction": 0.2},
}


def visits_table(patients: int, seed: int = 0) -> pd.DataFrame:
    """Patients with 1 to 6 visits each; the note column carries a canary that must never leave the run folder."""
    rng = np.random.default_rng(seed)
    rows = [(f"p{index:04d}", int(rng.integers(18, 90)), "abc"[int(rng.integers(0, 3))], f"{CANARY}-{index}")
            for index in range(patients) for _ in range(int(rng.integers(1, 7)))]
    return pd.DataFrame(rows, columns=["patient", "age", "ward", "note"])


@pytest.fixture
def ledger_config(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "ledger.yaml"
    path.write_text(yaml.safe_dump({"datasets": {
        "clinic_visits": {"epsilon": 2.5, "delta": 1e-4, "sources": [{"path": "data/clinic_visits/visits.csv"}]},
        "heart_disease": {"epsilon": 6.0, "delta": 3e-5, "sources": [{"path": "data/heart_disease/processed.*.data"}]},
    }}))
    monkeypatch.setenv("SYNTH_PIPELINE_LEDGER_CONFIG", str(path))
    return path


def write_spec(project: Path, **changes) -> Path:
    document = {**VISITS_SPEC, **changes}
    path = project / "releases" / f"{document['name']}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document))
    return path


def after_pii_scan(state: Path, spec_path: Path, run_id: str, table: pd.DataFrame) -> Path:
    """The PII step's output, which this test writes itself: `<run_dir>/pii_scan/table.parquet`."""
    run_dir = run_folder(state, load_spec(spec_path).spec.name, run_id)
    (run_dir / "pii_scan").mkdir(parents=True)
    table.to_parquet(run_dir / "pii_scan" / "table.parquet", index=False)
    return run_dir


def ledger_of(spec_path: Path):
    return open_ledger(load_spec(spec_path).project_root)


def test_split_bounds_contributions_and_splits_by_individual(project, state_dir, ledger_config):
    spec = write_spec(project)
    table = visits_table(300)
    run_dir = after_pii_scan(state_dir, spec, "run-1", table)
    result = run_split(spec, run_dir, seed=5)
    train = pd.read_parquet(run_dir / "split" / "train.parquet")
    holdout = pd.read_parquet(run_dir / "split" / "holdout.parquet")
    report = json.loads((run_dir / "split" / "report.json").read_text())
    assert set(train["patient"]).isdisjoint(holdout["patient"])
    assert max(train["patient"].value_counts().max(), holdout["patient"].value_counts().max()) <= 3
    per_patient = table["patient"].value_counts()
    assert report["contributions"]["rows_dropped_by_bound"] == int((per_patient - 3).clip(lower=0).sum())
    assert report["contributions"]["individuals_truncated"] == int((per_patient > 3).sum())
    assert report["train_individuals"] + report["holdout_individuals"] == 300  # Bernoulli(0.2) coins per patient
    assert 30 <= report["holdout_individuals"] <= 90
    assert report["train_rows"] == len(train) and report["seeded"] is True
    assert result == {"uri": str(run_dir / "split"), "seeded": True}  # XCom: no count
    assert CANARY not in json.dumps(report) + json.dumps(result)


def test_split_with_a_seed_repeats_and_without_one_does_not(project, state_dir, ledger_config):
    spec = write_spec(project)
    table = visits_table(200)
    holdouts = []
    for run_id, seed in (("a", 1), ("b", 1), ("c", None), ("d", None)):
        run_dir = after_pii_scan(state_dir, spec, run_id, table)
        run_split(spec, run_dir, seed=seed)
        holdouts.append(frozenset(pd.read_parquet(run_dir / "split" / "holdout.parquet")["patient"]))
    assert holdouts[0] == holdouts[1] and holdouts[2] != holdouts[3]
    assert json.loads((run_dir / "split" / "report.json").read_text())["seeded"] is False


def test_split_needs_the_pii_scan(project, state_dir, ledger_config):
    spec = write_spec(project)
    with pytest.raises(ConfigError, match="run the 'pii_scan' step"):
        run_split(spec, run_folder(state_dir, "clinic_visits", "r"), seed=0)


def test_charge_reserves_once_and_settle_releases_what_training_never_used(project, state_dir, ledger_config):
    spec = write_spec(project)
    run_dir = after_pii_scan(state_dir, spec, "run-1", visits_table(300))
    run_split(spec, run_dir, seed=0)
    charged = run_charge_budget(spec, run_dir, run_id="run-1")
    report = json.loads((run_dir / "charge_budget" / "report.json").read_text())
    assert report["ledger_entry"] == {"id": charged["ledger_entry_id"], "status": "reserved"}
    assert (report["epsilon"], report["delta"], report["dataset"]) == (1.0, 1e-5, "clinic_visits")
    assert report["remaining"]["epsilon"] == pytest.approx(1.5) == charged["remaining_epsilon"]
    # An Airflow retry of the task: same entry, nothing charged twice.
    assert run_charge_budget(spec, run_dir, run_id="run-1")["ledger_entry_id"] == charged["ledger_entry_id"]
    with ledger_of(spec) as ledger:
        assert ledger.summary("clinic_visits")[0].reserved_epsilon == 1.0

    settled = run_settle_budget(spec, run_dir, run_id="run-1")
    assert (settled["action"], settled["status"]) == ("released", "released")
    assert json.loads((run_dir / "settle_budget" / "report.json").read_text())["remaining"]["epsilon"] == 2.5
    with pytest.raises(LedgerError, match="was released"):
        mark_charge_spent(load_spec(spec), run_id="run-1")


def test_a_run_that_trained_keeps_its_charge(project, state_dir, ledger_config):
    spec = write_spec(project)
    for run_id in ("trained", "trained-again"):
        run_dir = after_pii_scan(state_dir, spec, run_id, visits_table(300))
        run_split(spec, run_dir, seed=0)
        run_charge_budget(spec, run_dir, run_id=run_id)
        assert mark_charge_spent(load_spec(spec), run_id=run_id).status == "spent"
        assert run_settle_budget(spec, run_dir, run_id=run_id)["action"] == "kept_spent"
    run_dir = after_pii_scan(state_dir, spec, "third", visits_table(300))
    run_split(spec, run_dir, seed=0)
    with pytest.raises(BudgetExceeded, match="spent 2 \\+ reserved 0 \\+ requested 1 = 3 > lifetime 2.5"):
        run_charge_budget(spec, run_dir, run_id="third")
    assert not (run_dir / "charge_budget").exists()
    assert run_settle_budget(spec, run_dir, run_id="third")["action"] == "no_entry"


PREFLIGHT_REFUSALS = [
    # Decided on the declared floor, never on the true size: the same refusal for 40 or 300 patients.
    ("delta at 1/n, few patients", {"privacy": {"epsilon": 1.0, "delta": 0.05, "min_individuals": 20}}, 40,
     PrivacyConfigError, r"privacy.delta = 0.05 must be below 1/n = 0.05 for the declared privacy.min_individuals = 20"),
    ("delta at 1/n, many patients", {"privacy": {"epsilon": 1.0, "delta": 0.05, "min_individuals": 20}}, 300,
     PrivacyConfigError, r"privacy.delta = 0.05 must be below 1/n = 0.05 for the declared privacy.min_individuals = 20"),
    ("no declared floor", {"privacy": {"epsilon": 1.0, "delta": 1e-5}}, 300, PrivacyConfigError,
     "privacy.min_individuals is not set"),
    ("no generator", {"generator": None}, 300, PrivacyConfigError, "has no generator"),
    ("dataset without a lifetime", {"privacy": {"epsilon": 1.0, "delta": 1e-5, "dataset": "unlisted", "min_individuals": 200}}, 300,
     ConfigError, "'unlisted' has no lifetime privacy budget"),
]

# Estimating categories without a delta could never succeed: the spec is refused when it loads, before any step.
ESTIMATED_WITHOUT_DELTA = [
    ("declared categorical", {"schema": {**VISITS_SPEC["schema"], "ward": {"type": "categorical"}}}, "ward"),
    ("generalized zip", {"schema": {**VISITS_SPEC["schema"], "zip": {"type": "string"}},
                         "pii": {"columns": {"zip": {"class": "quasi_identifier", "action": "generalize",
                                                     "generalize": {"zip_prefix": 3}}}}}, "zip"),
]


@pytest.mark.parametrize("_name, changes, patients, error, message", PREFLIGHT_REFUSALS,
                         ids=[case[0] for case in PREFLIGHT_REFUSALS])
def test_preflight_refusals_charge_nothing(project, state_dir, ledger_config, _name, changes, patients, error, message):
    spec = write_spec(project, **changes)
    run_dir = after_pii_scan(state_dir, spec, "r", visits_table(patients))
    run_split(spec, run_dir, seed=0)
    with pytest.raises(error, match=message):
        run_charge_budget(spec, run_dir, run_id="r")
    assert not (run_dir / "charge_budget").exists()
    with ledger_of(spec) as ledger:
        assert all(not standing.entries for standing in ledger.summary())


@pytest.mark.parametrize("_name, changes, column", ESTIMATED_WITHOUT_DELTA, ids=[c[0] for c in ESTIMATED_WITHOUT_DELTA])
def test_categories_estimated_without_delta_are_refused_when_the_spec_loads(project, _name, changes, column):
    spec = write_spec(project, **changes, privacy={"epsilon": 1.0, "delta": 1e-5, "min_individuals": 200,
                                                   "estimation": {"epsilon": 0.2, "delta": 0.0}})
    with pytest.raises(SpecError, match=rf"privacy.estimation.delta: must be above 0 to estimate the categories "
                                        rf"of {column}"):
        load_spec(spec)


def test_estimation_share_is_part_of_the_charge_and_only_for_columns_that_reach_training(project, state_dir,
                                                                                        ledger_config):
    schema = {**VISITS_SPEC["schema"], "ward": {"type": "categorical"},
              "age": {"type": "integer", "min": 0, "max": 120, "estimate_bounds": True}}
    spec = write_spec(project, schema=schema,
                      privacy={"epsilon": 1.0, "delta": 1e-5, "min_individuals": 200,
                               "estimation": {"epsilon": 0.2, "delta": 1e-6}})
    # The PII step dropped `ward`: only `age` is left to estimate, and it gets the whole estimation share.
    run_dir = after_pii_scan(state_dir, spec, "r", visits_table(300).drop(columns="ward"))
    run_split(spec, run_dir, seed=0)
    run_charge_budget(spec, run_dir, run_id="r")
    report = json.loads((run_dir / "charge_budget" / "report.json").read_text())
    assert report["estimation"] == {"age": {"epsilon": 0.2, "delta": 0.0}}
    assert report["epsilon"] == 1.0 and "domain_estimation=age" in report["mechanism"]
    # The accountant's list: estimation, the generator and the release decision, adding up to the charge.
    plan = {part["part"]: (part["epsilon"], part["delta"]) for part in report["plan"]}
    assert plan == {"domain_estimation": (0.2, 1e-6), "generator": (pytest.approx(0.75), pytest.approx(9e-6)),
                    "release_decision": (0.05, 0.0)}
    assert sum(e for e, _ in plan.values()) == pytest.approx(report["epsilon"])


def test_a_generalized_column_whose_levels_are_read_off_the_data_is_estimated(project, state_dir, ledger_config):
    spec = write_spec(project, schema={**VISITS_SPEC["schema"], "zip": {"type": "string"}},
                      pii={"columns": {"zip": {"class": "quasi_identifier", "action": "generalize",
                                               "generalize": {"zip_prefix": 3}}}},
                      privacy={"epsilon": 1.0, "delta": 1e-5, "min_individuals": 200,
                               "estimation": {"epsilon": 0.2, "delta": 1e-6}})
    table = visits_table(300)
    run_dir = after_pii_scan(state_dir, spec, "r", table.assign(zip=["681"] * len(table)))
    run_split(spec, run_dir, seed=0)
    run_charge_budget(spec, run_dir, run_id="r")
    report = json.loads((run_dir / "charge_budget" / "report.json").read_text())
    assert report["estimation"] == {"zip": {"epsilon": 0.2, "delta": 1e-6}}


def test_real_heart_disease_table_through_the_steps(project, state_dir, ledger_config):
    spec = project / "releases" / "heart_disease.yaml"
    run_dir = run_folder(state_dir, "heart_disease", "real")
    run_extract(spec, run_dir, context=RunContext("real", None, None))
    run_harmonize(spec, run_dir)
    harmonized = pd.read_parquet(run_dir / "harmonize" / "table.parquet")
    after_pii_scan(state_dir, spec, "real", harmonized)
    run_split(spec, run_dir, seed=0)
    split = json.loads((run_dir / "split" / "report.json").read_text())
    assert split["train_rows"] + split["holdout_rows"] == 918 and split["contributions"]["rows_dropped_by_bound"] == 0
    charged = run_charge_budget(spec, run_dir, run_id="real")
    assert charged["remaining_epsilon"] == pytest.approx(4.0)


@pytest.fixture
def pg_ledger(postgres_url, monkeypatch):
    name = f"ledger_steps_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    monkeypatch.setenv("SYNTH_PIPELINE_LEDGER_URL",
                       sa.make_url(postgres_url).set(database=name).render_as_string(hide_password=False))
    yield
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_the_steps_against_a_postgresql_ledger(project, state_dir, ledger_config, pg_ledger):
    spec = write_spec(project)
    run_dir = after_pii_scan(state_dir, spec, "pg", visits_table(300))
    run_split(spec, run_dir, seed=0)
    run_charge_budget(spec, run_dir, run_id="pg")
    mark_charge_spent(load_spec(spec), run_id="pg")
    assert run_settle_budget(spec, run_dir, run_id="pg")["action"] == "kept_spent"
    assert not (state_dir / "ledger.sqlite").exists()
    with ledger_of(spec) as ledger:
        [standing] = ledger.summary("clinic_visits")
        assert (standing.spent_epsilon, [e.run_id for e in standing.entries]) == (1.0, ["pg"])
