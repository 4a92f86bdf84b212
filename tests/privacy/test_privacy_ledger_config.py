"""The ledger config: lifetimes and the sources each dataset covers; a spec may spend only from its sources'
dataset, refused before anything is charged."""

from __future__ import annotations

import re

import pytest
import yaml

from synth_pipeline.errors import ConfigError, PrivacyConfigError
from synth_pipeline.privacy.ledger import LifetimeBudget, load_budgets, open_ledger
from synth_pipeline.privacy.ledger_config import check_dataset_sources
from synth_pipeline.spec import load_spec


def test_ledger_config_is_validated(tmp_path):
    path = tmp_path / "ledger.yaml"
    with pytest.raises(ConfigError, match="cannot read it"):
        load_budgets(path)
    for text, problem in [
        ("datasets: {census: {epsilon: -1, delta: 1e-5}}", "datasets.census.epsilon"),
        ("datasets: {census: {epsilon: 1, delta: 1.5}}", "datasets.census.delta"),
        ("datasets: {census: {epsilon: 1}}", "datasets.census.delta"),
        ("datasets: {Census-1: {epsilon: 1, delta: 1e-5}}", "datasets.Census-1"),
        ("datasets: {census: {epsilon: 1, delta: 1e-5, extra: 2}}", "datasets.census.extra"),
        ("budgets: {}", "datasets"),
        ("datasets: [", "not valid YAML"),
        ("datasets: {census: {epsilon: 1, delta: 1e-5, sources: [{file: a.csv}]}}", "datasets.census.sources.0.file"),
        ("datasets: {census: {epsilon: 1, delta: 1e-5, sources: [{path: a, sql: {conn_id: c, table: t}}]}}",
         "sources.0: give exactly one of 'path'"),
        ("datasets: {census: {epsilon: 1, delta: 1e-5, sources: [{path: ''}]}}", "sources.0.path"),
        ("datasets: {census: {epsilon: 1, delta: 1e-5, sources: [{sql: {conn_id: c}}]}}",
         "sources.0.sql: give exactly one of 'table'"),
        ("datasets: {census: {epsilon: 1, delta: 1e-5, sources: [{sql: {conn_id: c, url: 'sqlite://', query: q}}]}}",
         "sources.0.sql: give exactly one of 'url' or 'conn_id'"),
        ("datasets: {census: {epsilon: 1, delta: 1e-5, sources: [{sql: {url: 'no url', table: t}}]}}",
         "not a SQLAlchemy database URL"),
        ("datasets: {census: {epsilon: 1, delta: 1e-5, sources: {path: a.csv}}}", "datasets.census.sources"),
    ]:
        path.write_text(text)
        with pytest.raises(ConfigError, match=problem):
            load_budgets(path)
    path.write_text("datasets: {census: {epsilon: 4, delta: 1.0e-5}}")
    assert load_budgets(path) == {"census": LifetimeBudget(epsilon=4, delta=1e-5)}


def test_the_project_config_covers_and_binds_the_bundled_releases():
    from testsupport import ROOT

    budgets = load_budgets(ROOT / "config" / "ledger.yaml")
    assert {"adult_income", "heart_disease", "synthea_patients"} <= set(budgets)
    for spec in sorted((ROOT / "releases").glob("*.yaml")):
        loaded = load_spec(spec)
        check_dataset_sources(loaded, budgets[loaded.spec.dataset])


PG = "postgresql://clinic@db.internal/clinic"
# (the spec's one source, the dataset's bindings, bound?). `{root}` is the project root.
BINDINGS = [
    ("the exact file", {"path": "data/x/patients.csv"}, [{"path": "data/x/patients.csv"}], True),
    ("a glob within a folder", {"path": "data/x/p1.csv"}, [{"path": "data/x/*.csv"}], True),
    ("a glob does not cross folders", {"path": "data/x/sub/p.csv"}, [{"path": "data/x/*.csv"}], False),
    ("'..' out of the bound folder", {"path": "data/x/../y/patients.csv"}, [{"path": "data/x/*"}], False),
    ("'..' that stays inside", {"path": "data/y/../x/patients.csv"}, [{"path": "data/x/patients.csv"}], True),
    ("the bound file by its absolute path", {"path": "{root}/data/x/patients.csv"}, [{"path": "data/x/*.csv"}], True),
    ("an absolute binding", {"path": "data/x/patients.csv"}, [{"path": "{root}/data/x/patients.csv"}], True),
    ("a placeholder under a glob", {"path": "data/daily/{ds}/patients.csv"}, [{"path": "data/daily/*/patients.csv"}],
     True),
    ("another folder", {"path": "data/y/patients.csv"}, [{"path": "data/x/*"}], False),
    ("a file outside the project", {"path": "/srv/other/patients.csv"}, [{"path": "data/x/*"}], False),
    ("a binding outside the project", {"path": "/srv/shared/patients.csv"}, [{"path": "/srv/shared/*.csv"}], True),
    ("a relative binding outside the project", {"path": "../shared/patients.csv"}, [{"path": "../shared/*"}], True),
    ("a dataset that binds nothing", {"path": "data/x/patients.csv"}, [], False),
    ("a file binding for a SQL source", {"format": "sql", "conn_id": "wh", "table": "x"}, [{"path": "*"}], False),
    ("a SQL binding for a file", {"path": "data/x/patients.csv"}, [{"sql": {"conn_id": "wh", "table": "*"}}], False),
    ("connection and table glob", {"format": "sql", "conn_id": "wh", "table": "clinic.patients"},
     [{"sql": {"conn_id": "wh", "table": "clinic.*"}}], True),
    ("another connection", {"format": "sql", "conn_id": "other", "table": "clinic.patients"},
     [{"sql": {"conn_id": "wh", "table": "clinic.*"}}], False),
    ("another table", {"format": "sql", "conn_id": "wh", "table": "billing.invoices"},
     [{"sql": {"conn_id": "wh", "table": "clinic.*"}}], False),
    ("a URL, its password aside", {"format": "sql", "url": "postgresql://clinic:secret@db.internal/clinic",
                                   "table": "clinic.patients"}, [{"sql": {"url": PG, "table": "clinic.*"}}], True),
    ("a URL, its driver aside", {"format": "sql", "url": "postgresql+psycopg2://clinic@db.internal/clinic",
                                 "table": "clinic.patients"}, [{"sql": {"url": PG, "table": "clinic.*"}}], True),
    ("Airflow's postgres:// spelling", {"format": "sql", "url": "postgres://clinic@db.internal/clinic",
                                        "table": "clinic.patients"}, [{"sql": {"url": PG, "table": "clinic.*"}}], True),
    ("another host", {"format": "sql", "url": "postgresql://clinic@elsewhere/clinic", "table": "clinic.patients"},
     [{"sql": {"url": PG, "table": "clinic.patients"}}], False),
    ("another database", {"format": "sql", "url": "postgresql://clinic:secret@db.internal/billing",
                          "table": "clinic.patients"}, [{"sql": {"url": PG, "table": "clinic.patients"}}], False),
    ("the query, whitespace aside", {"format": "sql", "conn_id": "wh", "query": "SELECT *\n  FROM clinic.patients"},
     [{"sql": {"conn_id": "wh", "query": "SELECT * FROM clinic.patients"}}], True),
    ("another query", {"format": "sql", "conn_id": "wh", "query": "SELECT * FROM billing.invoices"},
     [{"sql": {"conn_id": "wh", "query": "SELECT * FROM clinic.patients"}}], False),
    ("a table binding does not cover queries", {"format": "sql", "conn_id": "wh", "query": "SELECT 1"},
     [{"sql": {"conn_id": "wh", "table": "*"}}], False),
]


@pytest.mark.parametrize("_name, source, bindings, bound", BINDINGS, ids=[b[0] for b in BINDINGS])
def test_a_spec_may_spend_only_from_the_dataset_its_sources_are_bound_to(project, _name, source, bindings, bound):
    def rooted(value: str) -> str:
        return value.replace("{root}", str(project))

    spec_path = project / "releases" / "synthea_patients.yaml"
    document = yaml.safe_load(spec_path.read_text())
    source = {"format": "csv", **source}
    document["sources"]["patients"] = {**source, **({"path": rooted(source["path"])} if "path" in source else {})}
    spec_path.write_text(yaml.safe_dump(document, sort_keys=False))
    budget = LifetimeBudget(epsilon=3.0, delta=3e-5, sources=[
        {"path": rooted(binding["path"])} if "path" in binding else binding for binding in bindings])
    loaded = load_spec(spec_path)
    if bound:
        check_dataset_sources(loaded, budget)
        return
    with pytest.raises(PrivacyConfigError) as refused:
        check_dataset_sources(loaded, budget)
    message = str(refused.value)
    assert "dataset 'synthea_patients'" in message and "source 'patients' (" in message
    assert "nothing was charged" in message and "datasets.synthea_patients.sources" in message
    assert "secret" not in message  # a URL's password is a credential, never repeated


def test_glob_characters_in_the_project_root_are_not_a_pattern(tmp_path):
    from testsupport import copy_project

    root = copy_project(tmp_path / "releases[2026]")
    loaded = load_spec(root / "releases" / "heart_disease.yaml")
    check_dataset_sources(loaded, load_budgets(root / "config" / "ledger.yaml")["heart_disease"])


UNBOUND = "does not bind sources " + ", ".join(f"'{name}' (data/heart_disease/processed.{name}.data)"
                                              for name in ("cleveland", "hungarian", "switzerland", "va"))
# (the dataset the heart-disease spec names, the refusal, what it says)
DATASETS = [
    ("heart_disease", None, None),
    ("adult_income", PrivacyConfigError, f"release 'heart_disease' spends from dataset 'adult_income', but the ledger "
                                         f"config {UNBOUND} to that dataset"),
    ("synthea_patients", PrivacyConfigError, "datasets.synthea_patients.sources"),
    ("nowhere", ConfigError, "'nowhere' has no lifetime privacy budget"),
]


@pytest.mark.parametrize("dataset, error, message", DATASETS, ids=[d[0] for d in DATASETS])
def test_the_ledger_checks_the_spec_s_sources_against_its_dataset(project, state_dir, dataset, error, message):
    spec_path = project / "releases" / "heart_disease.yaml"
    document = yaml.safe_load(spec_path.read_text())
    document["privacy"]["dataset"] = dataset
    spec_path.write_text(yaml.safe_dump(document, sort_keys=False))
    with open_ledger(project) as ledger:
        if error is None:
            ledger.check_sources(load_spec(spec_path))
        else:
            with pytest.raises(error, match=re.escape(message)):
                ledger.check_sources(load_spec(spec_path))
        assert all(standing.entries == () for standing in ledger.summary())
