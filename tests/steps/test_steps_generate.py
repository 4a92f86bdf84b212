"""The train and sample steps on real run folders: the ledger's order of events, the budget split with DP domain
estimation, the released schema, determinism."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline_runs import entry_status, prepared
from synth_pipeline.errors import ConfigError, GatesFailed
from synth_pipeline.steps import run_settle_budget
from synth_pipeline.steps.generate import run_sample, run_train
from synth_pipeline.steps.report import run_report


@pytest.fixture
def heart(project):
    return project / "releases" / "heart_disease.yaml"


def test_train_makes_the_charge_final_before_it_reads_any_data(heart, state_dir):
    run_dir = prepared(heart, state_dir, "r1")
    assert entry_status(heart, "r1") == "reserved"
    shutil.rmtree(run_dir / "split")  # training cannot read its input ...
    with pytest.raises(ConfigError):
        run_train(heart, run_dir, run_id="r1", seed=3)
    # ... but it had already made the charge final: a run that may have read private data keeps its charge.
    assert entry_status(heart, "r1") == "spent"
    assert run_settle_budget(heart, run_dir, run_id="r1")["action"] == "kept_spent"


def test_a_run_that_never_trained_gets_its_reservation_back(heart, state_dir):
    run_dir = prepared(heart, state_dir, "r2")
    assert run_settle_budget(heart, run_dir, run_id="r2")["action"] == "released"
    assert entry_status(heart, "r2") == "released"


@pytest.mark.slow  # real training / a full attack: seconds each, kept out of test-fast
def test_train_then_sample_a_table_in_the_released_schema(heart, state_dir):
    run_dir = prepared(heart, state_dir, "r3")
    trained = run_train(heart, run_dir, run_id="r3", seed=3)
    report = json.loads((run_dir / "train" / "report.json").read_text())
    assert trained["generator"] == "aim" and report["privacy"]["generator"]["epsilon"] <= 2.0
    assert sorted(p.name for p in (run_dir / "train" / "model").iterdir()) == ["model.json", "model.safetensors"]
    sampled = run_sample(heart, run_dir, seed=3)
    synthetic = pd.read_parquet(run_dir / "sample" / "synthetic.parquet")
    harmonized = pd.read_parquet(run_dir / "harmonize" / "table.parquet")
    assert list(synthetic.columns) == list(harmonized.columns)
    assert {c: str(t) for c, t in synthetic.dtypes.items()} == {c: str(t) for c, t in harmonized.dtypes.items()}
    # The row count released is the model's DP estimate of the training table's size, not the true 734.
    assert sampled["rows"] == report["released_rows"] and abs(sampled["rows"] - 734) < 100
    assert synthetic["age"].between(18, 100).all() and set(synthetic["sex"].dropna()) <= {"female", "male"}


@pytest.mark.slow  # real training / a full attack: seconds each, kept out of test-fast
def test_the_same_seed_gives_the_same_synthetic_table(heart, state_dir):
    tables = []
    for run_id in ("s1", "s2"):
        run_dir = prepared(heart, state_dir, run_id)
        run_train(heart, run_dir, run_id=run_id, seed=11)
        run_sample(heart, run_dir, seed=11)
        tables.append(pd.read_parquet(run_dir / "sample" / "synthetic.parquet"))
    pd.testing.assert_frame_equal(*tables)


@pytest.mark.slow  # real training / a full attack: seconds each, kept out of test-fast
def test_publish_rows_overrides_the_estimated_count(heart, state_dir):
    document = yaml.safe_load(heart.read_text())
    document["publish"]["rows"] = 250
    heart.write_text(yaml.safe_dump(document, sort_keys=False))
    run_dir = prepared(heart, state_dir, "r4")
    run_train(heart, run_dir, run_id="r4", seed=3)
    assert run_sample(heart, run_dir, seed=3)["rows"] == 250


PEOPLE_SPEC = {
    "name": "visits", "description": "test visits", "owner": "tests", "purpose": "tests",
    "sources": {"visits": {"format": "csv", "path": "data/visits/visits.csv"}},
    "schema": {"patient": {"type": "string"}, "age": {"type": "integer", "min": 0, "max": 100},
               # Levels estimated under DP: the rows of a level too rare to be released become null (the default).
               "ward": {"type": "categorical"}},
    "pii": {"columns": {"patient": {"class": "direct_identifier", "action": "pseudonymize"},
                        "age": {"class": "quasi_identifier", "action": "keep"}},
            "key": {"env": "VISITS_PSEUDONYM_KEY"}},
    "privacy_unit": {"key": "patient", "max_rows": 2},
    "privacy": {"epsilon": 2.0, "delta": 1e-5, "min_individuals": 300, "estimation": {"epsilon": 0.5, "delta": 1e-6}},
    "generator": {"name": "aim", "params": {"rounds": 10, "numeric_bins": 10}},
    "quality": {"suite": "expectations/visits.json"},
}


def test_an_individual_privacy_unit_and_an_estimated_domain(project, state_dir, monkeypatch):
    rng = np.random.default_rng(0)
    patients = [f"patient-{i:04d}" for i in range(1500)]
    rows = [(p, int(rng.integers(18, 90)), rng.choice(["north", "south", "east"], p=[0.5, 0.3, 0.2]))
            for p in patients for _ in range(int(rng.integers(1, 5)))]
    # Three people in a ward too rare to be released: their rows become null in training, and the run goes on.
    rows += [(f"patient-{9997 + i}", 40, "CANARY-ward") for i in range(3)]
    (project / "data" / "visits").mkdir()
    pd.DataFrame(rows, columns=["patient", "age", "ward"]).to_csv(project / "data" / "visits" / "visits.csv", index=False)
    (project / "expectations" / "visits.json").write_text(json.dumps({"name": "visits", "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "patient"}}]}))
    spec = project / "releases" / "visits.yaml"
    spec.write_text(yaml.safe_dump(PEOPLE_SPEC))
    ledger = yaml.safe_load((project / "config" / "ledger.yaml").read_text())
    ledger["datasets"]["visits"] = {"epsilon": 4.0, "delta": 1e-4, "sources": [{"path": "data/visits/visits.csv"}]}
    (project / "config" / "ledger.yaml").write_text(yaml.safe_dump(ledger))
    monkeypatch.setenv("VISITS_PSEUDONYM_KEY", "a-test-key-of-more-than-16-bytes")

    run_dir = prepared(spec, state_dir, "u1")
    run_train(spec, run_dir, run_id="u1", seed=5)
    report = json.loads((run_dir / "train" / "report.json").read_text())
    estimation = report["privacy"]["estimation"]
    assert set(estimation["columns"]) == {"ward"} and estimation["epsilon_spent"] <= 0.5
    assert "CANARY" not in json.dumps(report)
    # Basic composition: the generator got what estimation left of the run's epsilon.
    # 2.0 less 0.5 for estimation and 5% (0.1) for the release decision: basic composition.
    assert report["privacy"]["generator"]["target_epsilon"] == pytest.approx(1.4)
    assert report["privacy"]["generator"]["unit"] == "individual (max 2 rows)"
    assert report["modelled_columns"] == ["age", "ward"]
    assert report["not_released"] == {"patient": "the privacy unit's key: it identifies people"}
    run_sample(spec, run_dir, seed=5)
    synthetic = pd.read_parquet(run_dir / "sample" / "synthetic.parquet")
    assert list(synthetic.columns) == ["age", "ward"]
    assert set(synthetic["ward"].dropna()) <= {"north", "south", "east"}
    # The data card shows the estimated domain as what it is: a DP output.
    with pytest.raises(GatesFailed, match="checks that never reported: reidentify, validate"):
        run_report(spec, run_dir, run_id="u1")
    card = json.loads((run_dir / "report" / "data_card.json").read_text())
    assert card["columns"]["ward"]["domain"].endswith("categories (estimated under DP)")
    assert card["not_released"] == {"patient": "the privacy unit's key: it identifies people"}
