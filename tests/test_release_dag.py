"""Whole release DAG runs through dag.test(), the steward answering from a thread through Airflow's REST handler."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from airflow_local import answer_in_background, wait_for_pending  # noqa: E402
from pipeline_runs import pin_spec  # noqa: E402
from publishable import publishable  # noqa: E402
from testsupport import TEST_USERS  # noqa: E402

pytestmark = pytest.mark.slow


def _dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    return bag


@pytest.fixture
def release_bag(airflow_db, project, state_dir, monkeypatch):
    monkeypatch.setenv("SYNTH_PIPELINE_RELEASES", str(project / "releases"))
    monkeypatch.setenv("SYNTH_PIPELINE_CATALOG", str(project / "published"))
    monkeypatch.setenv("SYNTH_PIPELINE_ANALYST_OUTPUT", str(project / "analyst"))
    for release in ("heart_disease", "adult_income"):
        publishable(project / "releases" / f"{release}.yaml")  # unseeded, every draw reaches the steward
    return _dag_bag()


def _states(dag_run) -> dict:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def test_approved_run_is_published_with_its_manifest(release_bag, project):
    from synth_pipeline import catalog

    answer = answer_in_background(approve=True, comment="looks right", password=TEST_USERS["steward"])
    dag_run = release_bag.dags["heart_disease"].test()
    assert answer.get("decision") == "Approve", answer
    assert dag_run.state == "success", _states(dag_run)
    [info] = catalog.list_releases(project / "published")
    manifest = catalog.verify("heart_disease", location=project / "published")
    assert manifest["approval"]["by"] == "steward" and manifest["approval"]["comment"] == "looks right"
    assert manifest["run_id"] == dag_run.run_id and info.is_latest
    assert manifest["generator"] == "aim" and manifest["privacy"]["ledger_entry"]["status"] == "spent"
    assert manifest["seeded"] is False
    assert manifest["gates"] == {"quality_gate": True, "pii_scan": True, "validate": True, "reidentify": True}
    assert set(manifest["files"]) == {"synthetic.parquet", "synthetic.csv", "data_card.json", "data_card.html"}
    table = catalog.load("heart_disease", location=project / "published")
    assert len(table) == manifest["rows"] and "age" in table.columns

    publish = release_bag.dags["heart_disease"].get_task("publish")
    assert [asset.name for asset in publish.outlets] == ["synthetic/heart_disease"]


def test_rejected_run_publishes_nothing(release_bag, project):
    answer = answer_in_background(approve=False, comment="attribute inference too high", password=TEST_USERS["steward"])
    dag_run = release_bag.dags["heart_disease"].test()
    assert answer.get("decision") == "Reject", answer
    states = _states(dag_run)
    assert states["approve"] == "success" and states["publish"] == "skipped"
    assert not (project / "published").exists()


def test_a_non_steward_is_refused_by_airflow(release_bag, project):
    import threading

    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    from synth_pipeline.approval import StewardClient
    from synth_pipeline.errors import ApprovalError

    outcome: dict = {}

    def intruder_then_steward() -> None:
        http = TestClient(create_app())
        alice = StewardClient(username="alice", password=TEST_USERS["alice"], http=http)
        pending = wait_for_pending(alice, timeout_s=600)
        try:
            alice.respond(pending[0]["run_id"], approve=True, comment="self-approval")
        except ApprovalError as exc:
            outcome["refused"] = str(exc)
        steward = StewardClient(username="steward", password=TEST_USERS["steward"], http=http)
        outcome.update(steward.respond(pending[0]["run_id"], approve=False, comment="cleanup"))

    threading.Thread(target=intruder_then_steward, daemon=True).start()
    dag_run = release_bag.dags["heart_disease"].test()
    assert "Airflow refused" in outcome.get("refused", "") and "alice" in outcome["refused"], outcome
    assert outcome["decision"] == "Reject" and _states(dag_run)["publish"] == "skipped"
    assert not (project / "published").exists()


def test_the_adult_demo_release_is_published_and_the_analyst_dag_loads_it(release_bag, project):
    """What `make demo` does, then the example analyst DAG (scheduled on the release's Asset) consumes it."""
    import pandas as pd

    answer = answer_in_background(approve=True, comment="demo", password=TEST_USERS["steward"])
    dag_run = release_bag.dags["adult_income"].test()
    assert answer.get("decision") == "Approve" and dag_run.state == "success", _states(dag_run)
    analyst = release_bag.dags["analyst_adult_income_by_education"]
    assert "synthetic/adult_income" in str(analyst.timetable.asset_condition)  # scheduled on the release's Asset
    assert analyst.test().state == "success"
    [output] = (project / "analyst").glob("adult_income_income_by_education_*.csv")
    shares = pd.read_csv(output)
    # Up to Adult's 16 levels: an unseeded draw may lack the rarest (Preschool holds 0.2% of the rows).
    assert 0 < len(shares) <= 16 and shares["share_over_50k"].between(0, 1).all()


def test_an_approved_seeded_run_is_never_published(airflow_db, project, state_dir, monkeypatch):
    """With the spec's seed, anyone holding the spec can rerun the release on two candidate tables and see which one
    it came from (the review's finding 8): the steward may approve, the publish task refuses."""
    monkeypatch.setenv("SYNTH_PIPELINE_RELEASES", str(project / "releases"))
    monkeypatch.setenv("SYNTH_PIPELINE_CATALOG", str(project / "published"))
    pin_spec(project / "releases" / "heart_disease.yaml")  # seeded; a seed whose run passes every gate
    bag = _dag_bag()  # before the answering thread: it needs Airflow's ORM set up
    answer = answer_in_background(approve=True, comment="seeded", password=TEST_USERS["steward"])
    dag_run = bag.dags["heart_disease"].test()
    assert answer.get("decision") == "Approve", answer
    states = _states(dag_run)
    assert dag_run.state == "failed" and states["approve"] == "success" and states["publish"] == "failed", states
    assert not (project / "published").exists()


def test_no_answer_before_the_timeout_falls_back_to_a_rejection(release_bag):
    """Airflow's triggerer resolves a timed-out approval with the operator's defaults (dag.test() never times one
    out, so this checks the configuration; test_rejected_run_publishes_nothing covers what a rejection does)."""
    from datetime import timedelta

    from synth_pipeline.spec import load_spec

    approve = release_bag.dags["heart_disease"].get_task("approve")
    spec = load_spec(ROOT / "releases" / "heart_disease.yaml").spec
    assert approve.defaults == ["Reject"] and approve.options == ["Approve", "Reject"]
    assert approve.response_timeout == timedelta(hours=spec.approval.timeout_hours) == timedelta(hours=72)
    assert approve.assigned_users == [{"id": "steward", "name": "steward"}]


def test_a_spark_engine_finds_its_connection_in_airflows_metadata_database(airflow_db, project, state_dir,
                                                                            monkeypatch):
    """`engine.conn_id` as an operator defines it (`airflow connections add`, not an environment variable): the
    train task resolves it through Airflow, as extract does a SQL source's."""
    import subprocess

    import yaml

    monkeypatch.setenv("SYNTH_PIPELINE_RELEASES", str(project / "releases"))
    spec_path = project / "releases" / "heart_disease.yaml"
    document = yaml.safe_load(spec_path.read_text())
    document.pop("approval")  # the run ends with the steward's report: what is checked here is train
    document["engine"] = {"name": "spark", "conn_id": "spark_from_metadata"}
    document["generator"]["params"] = {**document["generator"].get("params", {}), "rounds": 3}
    spec_path.write_text(yaml.safe_dump(document, sort_keys=False))
    airflow = Path(sys.executable).parent / "airflow"
    subprocess.run([str(airflow), "connections", "add", "spark_from_metadata", "--conn-type", "spark",
                    "--conn-host", "local[1]"], check=True, capture_output=True)
    try:
        dag_run = _dag_bag().dags["heart_disease"].test()
        assert _states(dag_run)["train"] == "success", _states(dag_run)
    finally:
        subprocess.run([str(airflow), "connections", "delete", "spark_from_metadata"], check=True, capture_output=True)
