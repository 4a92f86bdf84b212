"""The pii_scan step on copies of the bundled releases: extract, harmonize, quality_gate, then pii_scan."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from synth_pipeline.errors import ConfigError, PIIFound
from synth_pipeline.pii import output_schema
from synth_pipeline.pii.policy import schema_mismatches
from synth_pipeline.sources import RunContext
from synth_pipeline.spec import load_spec
from synth_pipeline.steps import run_extract, run_harmonize, run_pii_scan, run_quality_gate

# Each case runs extract, harmonize, the GX gate and the scan on a bundled release: seconds each, in `make test`.
pytestmark = pytest.mark.slow

KEY = "synthea-test-key-0123456789abcdef"
KEY_ENV = "AIRFLOW_CONN_SYNTHEA_PSEUDONYM_KEY"


def _prepare(spec: Path, run_dir: Path) -> None:
    run_extract(spec, run_dir, context=RunContext("t1"))
    run_harmonize(spec, run_dir)
    assert run_quality_gate(spec, run_dir)["passed"]


def _outputs(run_dir: Path) -> str:
    folder = run_dir / "pii_scan"
    text = (folder / "report.json").read_text()
    if (folder / "table.parquet").exists():
        text += pd.read_parquet(folder / "table.parquet").to_csv()
    return text


def test_synthea_patients_loses_its_identifiers_and_keeps_a_keyed_pseudonym(project, state_dir, monkeypatch):
    monkeypatch.setenv(KEY_ENV, json.dumps({"conn_type": "generic", "password": KEY}))
    spec, run_dir = project / "releases" / "synthea_patients.yaml", state_dir / "synthea"
    _prepare(spec, run_dir)
    result = run_pii_scan(spec, run_dir)

    loaded = load_spec(spec)
    table = pd.read_parquet(run_dir / "pii_scan" / "table.parquet")
    assert schema_mismatches(table, output_schema(loaded.spec.schema, loaded.spec.pii)) == []
    assert result["released_columns"] == list(table.columns) and len(table.columns) == 13
    # XCom: names and the verdict; the row count and the per-class findings are in the run folder's report only.
    assert set(result) == {"uri", "report", "released_columns", "passed"}
    report = json.loads((run_dir / "pii_scan" / "report.json").read_text())
    assert report["rows"] == 111 and report["classes"] == {"direct_identifier": 8, "quasi_identifier": 11,
                                                           "sensitive": 3, "none": 5}

    source = pd.read_csv(project / "data" / "synthea_patients" / "patients.csv", dtype=str)
    outputs = _outputs(run_dir) + json.dumps(result)
    for column in ("Id", "SSN", "DRIVERS", "PASSPORT", "FIRST", "LAST", "MAIDEN", "ADDRESS", "LAT", "BIRTHDATE"):
        leaked = [v for v in source[column].dropna() if v in outputs]
        assert leaked == [], f"{column}: {len(leaked)} source value(s) in the step's outputs"
    expected = [hmac.new(KEY.encode(), v.encode(), hashlib.sha256).hexdigest() for v in source["Id"]]
    assert table["id"].tolist() == expected
    assert set(table["birthdate"]) <= set(range(1900, 2031)) and table["zip"].isna().sum() == 7  # ZIP 00000

    report = json.loads((run_dir / "pii_scan" / "report.json").read_text())
    assert report["passed"] and report["violations"] == [] and "ssn" in report["actions"]["dropped"]
    monkeypatch.setenv(KEY_ENV, json.dumps({"conn_type": "generic", "password": KEY[::-1]}))
    run_pii_scan(spec, run_dir)
    assert pd.read_parquet(run_dir / "pii_scan" / "table.parquet")["id"].tolist() != expected


def test_a_missing_key_is_a_config_error_before_any_data_is_read(project, state_dir, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    empty_run = state_dir / "no-harmonize-yet"  # no harmonize partition: reading data would fail differently
    with pytest.raises(ConfigError, match="connection 'synthea_pseudonym_key' is not defined"):
        run_pii_scan(project / "releases" / "synthea_patients.yaml", empty_run)
    assert not (empty_run / "pii_scan").exists()


def test_the_dag_passes_its_own_secret_resolver(project, state_dir, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    spec, run_dir = project / "releases" / "synthea_patients.yaml", state_dir / "synthea"
    _prepare(spec, run_dir)
    asked = []
    run_pii_scan(spec, run_dir, resolve_secret=lambda conn_id: asked.append(conn_id) or KEY)
    assert asked == ["synthea_pseudonym_key"]


def test_a_kept_column_holding_direct_identifiers_stops_the_run(project, state_dir, monkeypatch):
    monkeypatch.setenv(KEY_ENV, json.dumps({"conn_type": "generic", "password": KEY}))
    spec = project / "releases" / "synthea_patients.yaml"
    text = spec.read_text()
    spec.write_text(text.replace("ssn:        {class: direct_identifier, action: drop}",
                                 "ssn:        {class: quasi_identifier, action: keep}"))
    run_dir = state_dir / "synthea"
    _prepare(spec, run_dir)
    with pytest.raises(PIIFound, match=r"ssn: .*US_SSN; declared quasi_identifier with "
                                       r"action keep, but it holds direct identifiers"):
        run_pii_scan(spec, run_dir)


@pytest.mark.parametrize(("release", "declared"), [
    ("heart_disease", {"age", "sex", "source_hospital"}),
    ("adult_income", {"age", "sex", "race", "native_country", "income"}),
    ("bank_marketing", {"age", "job", "marital"}),  # `high.school` and `university.degree` are not URLs
])
def test_the_bundled_releases_pass_the_scan(project, state_dir, release, declared):
    spec, run_dir = project / "releases" / f"{release}.yaml", state_dir / release
    _prepare(spec, run_dir)
    result = run_pii_scan(spec, run_dir)
    report = json.loads((run_dir / "pii_scan" / "report.json").read_text())
    flagged = {c["name"] for c in report["columns"] if c["class"] != "none"}
    assert result["passed"] and flagged <= declared and set(load_spec(spec).spec.pii.columns) == declared
    harmonized = pd.read_parquet(run_dir / "harmonize" / "table.parquet")
    assert pd.read_parquet(run_dir / "pii_scan" / "table.parquet").equals(harmonized)  # everything is kept


def _plant_columns(project: Path, rng: np.random.Generator, makers: dict) -> list[str]:
    """Adult with more columns, each value made by `makers[name](row, rng)`, in the data, the schema (as strings)
    and the GX suite; returns the planted values."""
    spec = project / "releases" / "adult_income.yaml"
    document = yaml.safe_load(spec.read_text())
    names = [*document["sources"]["train"]["options"]["names"], *makers]
    for source in ("train", "test"):
        document["sources"][source]["options"]["names"] = names
    for column in makers:
        document["schema"][column] = {"type": "string", "nullable": True}
    spec.write_text(yaml.safe_dump(document, sort_keys=False))
    suite = project / "expectations" / "adult_income.json"
    expectations = json.loads(suite.read_text())
    for expectation in expectations["expectations"]:
        if expectation["type"] == "expect_table_columns_to_match_ordered_list":
            expectation["kwargs"]["column_list"].extend(makers)
    suite.write_text(json.dumps(expectations))
    planted, row = [], 0
    for name, skip in (("adult.data", 0), ("adult.test", 1)):
        path = project / "data" / "adult_income" / name
        lines = path.read_text().split("\n")
        for i in range(skip, len(lines)):
            if lines[i].strip():
                values = [make(row, rng) for make in makers.values()]
                lines[i] += "".join(f", {value}" for value in values)
                planted += values
                row += 1
        path.write_text("\n".join(lines))
    return planted


def _ssn(row: int, rng: np.random.Generator) -> str:
    return f"{rng.integers(100, 600):03d}-{rng.integers(10, 99):02d}-{rng.integers(1000, 9999):04d}"


def _plant_ssn_column(project: Path, rng: np.random.Generator) -> list[str]:
    """Adult with a 16th column, `note`, holding an SSN on every row."""
    return _plant_columns(project, rng, {"note": _ssn})


def test_a_planted_ssn_in_an_undeclared_column_stops_the_adult_run_at_pii_scan(project, state_dir, caplog):
    planted = _plant_ssn_column(project, np.random.default_rng(11))
    spec, run_dir = project / "releases" / "adult_income.yaml", state_dir / "adult"
    caplog.set_level(logging.DEBUG)
    _prepare(spec, run_dir)  # extract, harmonize and the quality gate pass
    with pytest.raises(PIIFound) as caught:
        run_pii_scan(spec, run_dir)
    message = str(caught.value)
    assert "note: US_SSN; direct_identifier, not in pii.columns" in message and "300" not in message
    report = json.loads((run_dir / "pii_scan" / "report.json").read_text())
    assert report["passed"] is False and [v["column"] for v in report["violations"]] == ["note"]
    assert not (run_dir / "pii_scan" / "table.parquet").exists()  # nothing downstream can read a table
    everything = message + _outputs(run_dir) + caplog.text
    assert [ssn for ssn in set(planted) if ssn in everything] == []


def _password(row: int, rng: np.random.Generator) -> str:
    return "".join(rng.choice(list("abcdefghkmnpqrstuvwxyzABCDEFGH23456789#%&*"), size=12))


def test_an_undeclared_secret_and_a_row_number_stop_the_run_naming_rules_not_counts(project, state_dir, caplog):
    planted = _plant_columns(project, np.random.default_rng(5), {"Password": _password,
                                                                  "Number": lambda row, rng: str(row + 1)})
    spec, run_dir = project / "releases" / "adult_income.yaml", state_dir / "adult"
    caplog.set_level(logging.DEBUG)
    _prepare(spec, run_dir)
    with pytest.raises(PIIFound) as caught:
        run_pii_scan(spec, run_dir)
    message = str(caught.value)
    assert "Password: PASSWORD; secret, not in pii.columns" in message
    assert "Number: direct_identifier (near-unique values: a likely record key or row number)" in message
    assert not any(c.isdigit() for line in message.splitlines() if line.startswith("  - Number") for c in line)
    assert not (run_dir / "pii_scan" / "table.parquet").exists()
    everything = message + _outputs(run_dir) + caplog.text
    assert [p for p in set(planted[::2]) if p in everything] == []  # no password anywhere
