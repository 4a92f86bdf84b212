"""The release board's fixtures: Airflow's API server in-process (with the board plugin mounted), a throwaway
project the board reads, and users: the session's `steward` and `alice` (role op) log in with their passwords; a
viewer (`analyst`) and a user without any role (`outsider`) get tokens signed by the auth manager, as its login
would issue them (the session's user list gives every configured user role op)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from boardsupport import RELEASE
from testsupport import ROOT, TEST_USERS


@pytest.fixture(scope="session")
def api_app(airflow_db):
    from airflow.api_fastapi.app import create_app

    return create_app()


@pytest.fixture
def client(api_app):
    from fastapi.testclient import TestClient

    return TestClient(api_app)


@pytest.fixture
def board(tmp_path, monkeypatch, state_dir) -> Path:
    """A project root with the bundled specs and ledger config; published/ and the state start empty."""
    project = tmp_path / "project"
    for folder in ("releases", "config"):
        shutil.copytree(ROOT / folder, project / folder)
    monkeypatch.setenv("SYNTH_PIPELINE_RELEASES", str(project / "releases"))
    for name in ("SYNTH_PIPELINE_CATALOG", "SYNTH_PIPELINE_LEDGER_URL", "SYNTH_PIPELINE_LEDGER_CONFIG"):
        monkeypatch.delenv(name, raising=False)  # the board's defaults: the project's published/ and ledger
    return project


@pytest.fixture
def auth(client):
    """Authorization headers for a user: a password login for the session's users, a signed token for others."""

    def headers(user: str, role: str | None = None) -> dict:
        if role is None:
            response = client.post("/auth/token", json={"username": user, "password": TEST_USERS[user]})
            assert response.status_code < 300, response.text
            token = response.json()["access_token"]
        else:
            from airflow.api_fastapi.app import get_auth_manager
            from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

            token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=user, role=role))
        return {"Authorization": f"Bearer {token}"}

    return headers



@pytest.fixture(scope="session")
def approval_dag(api_app, tmp_path_factory):
    """A release Dag reduced to its `approve` task, an ApprovalOperator as the release Dags build it, written to
    the metadata DB the way the dag processor writes parsed Dags."""
    from datetime import timedelta

    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.providers.standard.operators.hitl import ApprovalOperator
    from airflow.sdk import DAG, Param
    from airflow.serialization.serialized_objects import DagSerialization

    with DAG(dag_id=RELEASE, schedule=None, tags=["synthetic-release"]) as dag:
        ApprovalOperator(task_id="approve", subject=f"Approve synthetic release {RELEASE}?", body="(set per run)",
                         defaults="Reject", assigned_users=[{"id": "steward", "name": "steward"}],
                         response_timeout=timedelta(hours=72),
                         params={"comment": Param("", type="string", title="Comment")})
    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=str(tmp_path_factory.mktemp("no_dags")))
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)
    return DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))


@pytest.fixture
def park_approval(board, approval_dag):
    """Start runs whose approve task waits for a steward: the TI parked in `awaiting_input` with its HITL detail,
    which is what the ApprovalOperator leaves through the execution API. The runs are deleted afterwards."""
    import uuid
    from datetime import datetime, timedelta, timezone

    from airflow.models.dagrun import DagRun, get_or_create_dagrun
    from airflow.models.hitl import HITLDetail
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from airflow.utils.types import DagRunTriggeredByType

    spec = (board / "releases" / "heart_disease.yaml").read_text().replace("name: heart_disease", f"name: {RELEASE}")
    (board / "releases" / f"{RELEASE}.yaml").write_text(spec)
    started: list[str] = []

    def park(*, triggered_by: str = "alice", body: str = "**Privacy:** this run spent epsilon 2") -> str:
        when = datetime.now(timezone.utc) - timedelta(microseconds=uuid.uuid4().int % 10**6)
        run_id = f"manual__{when.isoformat()}"
        with create_session() as session:
            run = get_or_create_dagrun(dag=approval_dag, run_id=run_id, logical_date=when, data_interval=(when, when),
                                       run_after=when, conf=None, triggered_by=DagRunTriggeredByType.UI,
                                       triggering_user_name=triggered_by, start_date=when, session=session)
            ti = run.get_task_instance("approve", session=session)
            ti.state, ti.try_number = TaskInstanceState.AWAITING_INPUT, 1
            session.add(HITLDetail(ti_id=ti.id, options=["Approve", "Reject"], subject=f"Approve {RELEASE}?",
                                   body=body, defaults=["Reject"], multiple=False, params={},
                                   assignees=[{"id": "steward", "name": "steward"}]))
        started.append(run_id)
        return run_id

    yield park
    with create_session() as session:
        for run in session.query(DagRun).filter(DagRun.dag_id == RELEASE, DagRun.run_id.in_(started)):
            session.delete(run)


@pytest.fixture
def publish(board, tmp_path):
    """Publish a small version of a release into the board project's published/, through `publish_release`."""
    import json
    from datetime import datetime, timedelta, timezone

    from synth_pipeline.publish import publish_release, version_for
    from synth_pipeline.storage import Store

    files = tmp_path / "files"
    files.mkdir()

    def publish_one(release: str = "heart_disease", *, created: datetime | None = None, days: int = 365,
                    purpose: str = "Teaching.", approver: str = "steward", rows: int = 918) -> str:
        created = created or datetime.now(timezone.utc)
        run_id = f"manual__{created.isoformat()}"
        (files / "synthetic.parquet").write_bytes(b"PAR1 synthetic rows PAR1")
        (files / "data_card.json").write_text(json.dumps({"release": release, "rows": rows}))
        (files / "data_card.html").write_text(f"<!doctype html><title>card</title><h1>Data card of {release}</h1>")
        version = version_for(run_id=run_id, run_started=created)
        publish_release(
            store=Store.from_location(board / "published"), release=release, version=version,
            files={name: files / name for name in ("synthetic.parquet", "data_card.json", "data_card.html")},
            manifest={"purpose": purpose, "run_id": run_id, "rows": rows, "created_at": created.isoformat(),
                      "expires_at": (created + timedelta(days=days)).isoformat(), "generator": "aim",
                      "privacy": {"epsilon": 2.0, "delta": 1e-5, "dataset": release},
                      "approval": {"decision": "Approve", "by": approver, "at": created.isoformat(), "comment": ""}})
        return version

    return publish_one
