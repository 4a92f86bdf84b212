"""End to end on the real stack (scripts/stack.py): PostgreSQL metadata, the CeleryExecutor on Redis, the api-server,
scheduler, dag-processor, triggerer and two Celery workers as separate processes. A release is triggered through the
REST API, runs every task on a Celery worker, waits in `awaiting_input`, and is published when the steward approves
with `synth-pipeline approve`; the user who triggered it and the analyst are refused by the real server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import psutil
import pytest
import yaml

from publishable import publishable
from synth_pipeline.runs import read_json, run_folder
from testsupport import ROOT, copy_project

sys.path.insert(0, str(ROOT / "scripts"))
import stack  # noqa: E402
import stack_client as api  # noqa: E402
from stack_client import PORT  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.services]
HEARTBEAT_S = 60
SNAPSHOT_ROWS = {-1: 290, 0: 303, 1: 280}  # Cleveland rows in yesterday's, today's and tomorrow's snapshot


@pytest.fixture(scope="module")
def running_stack(tmp_path_factory, postgres_url):
    """One stack for the module: a copy of the project (unseeded, publishable specs), brought up and torn down."""
    root = tmp_path_factory.mktemp("stack")
    project = copy_project(root)
    releases = project / "releases"
    (releases / "synthea_patients.yaml").unlink()  # not triggered here: one DAG less for the dag-processor to parse
    publishable(releases / "heart_disease.yaml")
    publishable(releases / "adult_income.yaml")  # its analyst DAG runs on the release's Asset event
    heart = yaml.safe_load((releases / "heart_disease.yaml").read_text())
    # A second release over the same people (for two runs at once), and one whose steward never answers in time.
    for name, approval in (("heart_disease_b", heart["approval"]), ("heart_timeout", {**heart["approval"],
                                                                                      "timeout_hours": 0.01})):
        copy = {**heart, "name": name, "approval": approval,
                "privacy": {**heart["privacy"], "dataset": "heart_disease"}}
        (releases / f"{name}.yaml").write_text(yaml.safe_dump(copy, sort_keys=False))
    _scheduled_release(project, heart)
    ledger = yaml.safe_load((project / "config" / "ledger.yaml").read_text())
    ledger["datasets"]["heart_disease"].update(epsilon=40.0, delta=1e-3)  # room for every run of this module
    (project / "config" / "ledger.yaml").write_text(yaml.safe_dump(ledger))
    state = root / "state"
    analyst_output = root / "analyst"
    previous = os.environ.get("SYNTH_PIPELINE_ANALYST_OUTPUT")
    os.environ["SYNTH_PIPELINE_ANALYST_OUTPUT"] = str(analyst_output)  # the stack's processes inherit it
    try:
        # A killed worker's task is failed once its heartbeats stop for this long (Airflow's default is 5 minutes).
        record = stack.up(state, project / "releases", PORT,
                          airflow_config={"AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_S)})
    finally:
        if previous is None:
            os.environ.pop("SYNTH_PIPELINE_ANALYST_OUTPUT")
        else:
            os.environ["SYNTH_PIPELINE_ANALYST_OUTPUT"] = previous
    passwords = json.loads((state / "passwords.json").read_text())
    yield {"record": record, "state": state, "project": project, "passwords": passwords,
           "url": f"http://127.0.0.1:{PORT}", "analyst_output": analyst_output}
    pids = json.loads((state / "stack.json").read_text())["pids"]  # a restarted worker has a new one
    stack.down(state)
    assert not (state / "stack.json").exists()
    for pid in {**record["pids"], **pids}.values():
        assert not stack._group_alive(pid), f"process group {pid} outlived `down`"


def _scheduled_release(project: Path, heart: dict) -> None:
    """heart_scheduled: every minute, each run reads the snapshot of its data interval's day, data/heart_snapshots/{ds}/.
    Three days of snapshots, told apart by how many Cleveland rows each holds. It stops after the PII scan (no
    generator): what is under test is the scheduler's run and its data interval, not training."""
    today = datetime.now(timezone.utc).date()
    for offset in (-1, 0, 1):
        day = project / "data" / "heart_snapshots" / (today + timedelta(days=offset)).isoformat()
        shutil.copytree(project / "data" / "heart_disease", day)
        cleveland = (day / "processed.cleveland.data").read_text().splitlines(keepends=True)
        (day / "processed.cleveland.data").write_text("".join(cleveland[:SNAPSHOT_ROWS[offset]]))
    sources = {name: {**source, "path": source["path"].replace("data/heart_disease/", "data/heart_snapshots/{ds}/")}
               for name, source in heart["sources"].items()}
    document = {**heart, "name": "heart_scheduled", "schedule": "* * * * *", "sources": sources}
    document.pop("generator")
    (project / "releases" / "heart_scheduled.yaml").write_text(yaml.safe_dump(document, sort_keys=False))


def test_a_release_runs_on_celery_waits_for_the_steward_and_is_published(running_stack):
    running = running_stack
    assert all(stack.health(running["state"]).values())
    run_id = api.trigger(running, "heart_disease")
    admin = api.client(running, "admin")
    runs = f"/api/v2/dags/heart_disease/dagRuns/{run_id}"
    api.awaiting(admin, "heart_disease", run_id)

    # The real server enforces who may answer: the operator triggered the run, the analyst is no steward.
    for intruder in ("operator", "analyst"):
        refused = api.cli(running, intruder, "approve", run_id, "--comment", "self-approval")
        assert refused.returncode != 0 and "Airflow refused" in refused.stderr, (intruder, refused.stderr)
    pending = api.cli(running, "steward", "pending")
    assert pending.returncode == 0 and run_id in pending.stdout and "Release decision" in pending.stdout

    approved = api.cli(running, "steward", "approve", run_id, "--comment", "checked on the stack")
    assert approved.returncode == 0, approved.stderr
    state = api.finished(admin, "heart_disease", run_id, timeout_s=300)
    instances = admin.get(f"{runs}/taskInstances").json()["task_instances"]
    assert state == "success", {ti["task_id"]: ti["state"] for ti in instances}

    # Every task that ran went through a Celery worker of this stack.
    ran = [ti for ti in instances if ti["state"] == "success" and ti["operator"] != "ApprovalOperator"]
    assert ran and all(ti["hostname"] and ti["executor"] in (None, "CeleryExecutor") for ti in ran)
    workers = {stack.WORKERS[0], stack.WORKERS[1]}
    log_text = "".join((running["state"] / "logs" / f"{worker}.log").read_text(errors="replace") for worker in workers)
    assert all(ti["task_id"] in log_text for ti in ran if ti["task_id"] != "approve")

    published = running["project"] / "published" / "heart_disease"
    [version] = [path for path in published.iterdir() if path.is_dir()]
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["approval"]["by"] == "steward" and manifest["run_id"] == run_id and manifest["seeded"] is False
    assert yaml.safe_load((running["project"] / "releases" / "heart_disease.yaml").read_text())["name"] == "heart_disease"


def test_a_rejection_publishes_nothing_and_keeps_the_charge(running_stack):
    running = running_stack
    before = api.versions(running, "heart_disease")
    run_id = api.trigger(running, "heart_disease")
    admin = api.client(running, "admin")
    api.awaiting(admin, "heart_disease", run_id)
    rejected = api.cli(running, "steward", "reject", run_id, "--comment", "not this one")
    assert rejected.returncode == 0, rejected.stderr
    api.finished(admin, "heart_disease", run_id, timeout_s=120)
    states = {ti["task_id"]: ti["state"] for ti in admin.get(
        f"/api/v2/dags/heart_disease/dagRuns/{run_id}/taskInstances").json()["task_instances"]}
    assert states["publish"] in ("skipped", "upstream_failed"), states
    assert api.versions(running, "heart_disease") == before
    assert [entry["status"] for entry in api.ledger_entries(running, run_id)] == ["spent"]


def test_an_unanswered_approval_is_rejected_by_the_triggerer(running_stack):
    """36 seconds of approval.timeout_hours: the real triggerer resolves the deferred task with the default, Reject."""
    running = running_stack
    run_id = api.trigger(running, "heart_timeout")
    admin = api.client(running, "admin")
    api.finished(admin, "heart_timeout", run_id, timeout_s=600)
    states = {ti["task_id"]: ti["state"] for ti in admin.get(
        f"/api/v2/dags/heart_timeout/dagRuns/{run_id}/taskInstances").json()["task_instances"]}
    assert states["approve"] in ("success", "failed") and states["publish"] in ("skipped", "upstream_failed"), states
    assert api.versions(running, "heart_timeout") == []
    assert [entry["status"] for entry in api.ledger_entries(running, run_id)] == ["spent"]


def test_two_releases_run_at_once_on_the_two_workers_and_both_publish(running_stack):
    running = running_stack
    runs = {dag_id: api.trigger(running, dag_id) for dag_id in ("heart_disease", "heart_disease_b")}
    admin = api.client(running, "admin")
    for dag_id, run_id in runs.items():
        api.awaiting(admin, dag_id, run_id)
    for dag_id, run_id in runs.items():
        approved = api.cli(running, "steward", "approve", run_id, "--release", dag_id, "--comment", "both")
        assert approved.returncode == 0, approved.stderr
    for dag_id, run_id in runs.items():
        assert api.finished(admin, dag_id, run_id, timeout_s=300) == "success"
        assert [entry["status"] for entry in api.ledger_entries(running, run_id)] == ["spent"]
    # Both runs were in flight at once, and both workers took tasks.
    details = [admin.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}").json() for dag_id, run_id in runs.items()]
    spans = sorted((detail["start_date"], detail["end_date"]) for detail in details)
    assert spans[1][0] < spans[0][1], spans
    for worker in stack.WORKERS:
        log = (running["state"] / "logs" / f"{worker}.log").read_text(errors="replace")
        assert "received" in log, f"{worker} took no task"


def _browser_context(browser, running, user: str):
    """A browser signed in as `user`: the JWT cookie Airflow's own login sets, from its /auth/token endpoint."""
    from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN

    token = httpx.post(f"{running['url']}/auth/token",
                       json={"username": user, "password": running["passwords"][user]}).json()["access_token"]
    context = browser.new_context()
    context.add_cookies([{"name": COOKIE_NAME_JWT_TOKEN, "value": token, "url": running["url"]}])
    return context


def test_the_steward_approves_on_the_release_board_in_a_browser(running_stack, tmp_path):
    """Playwright with Debian's Chromium on the running stack: the steward sees the pending run on the board, opens
    its internal report, approves, and finds the new version listed; the analyst sees no approve button."""
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.fail("Debian's chromium is missing: `make install` installs it (scripts/system_deps.sh)")
    from playwright.sync_api import sync_playwright

    running = running_stack
    run_id = api.trigger(running, "heart_disease")
    admin = api.client(running, "admin")
    api.awaiting(admin, "heart_disease", run_id)
    board = f"{running['url']}/release-board"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        analyst = _browser_context(browser, running, "analyst").new_page()
        analyst.goto(f"{board}/pending")
        assert analyst.get_by_role("button", name="Approve").count() == 0

        steward = _browser_context(browser, running, "steward").new_page()
        steward.goto(f"{board}/pending")
        assert run_id in steward.content()
        steward.get_by_role("link", name="Internal report").first.click()
        assert "Privacy budget" in steward.content()
        steward.go_back()
        steward.screenshot(path=str(tmp_path / "pending.png"), full_page=True)
        steward.get_by_role("button", name="Approve").first.click()
        assert api.finished(admin, "heart_disease", run_id, timeout_s=300) == "success"
        steward.goto(f"{board}/releases")
        [version] = [path.name for path in api.versions(running, "heart_disease")
                     if json.loads((path / "manifest.json").read_text())["run_id"] == run_id]
        assert version in steward.content()
        steward.screenshot(path=str(tmp_path / "releases.png"), full_page=True)
        browser.close()


def test_the_analyst_dag_runs_on_the_release_asset_event_and_reads_the_new_version(running_stack):
    """The scheduler turns the publish task's Asset event into a run of the analyst's DAG, which loads the version
    the event names through the catalog (checksums verified)."""
    running = running_stack
    admin = api.client(running, "admin")
    analyst_dag = "analyst_adult_income_by_education"
    api.wait(lambda: admin.get(f"/api/v2/dags/{analyst_dag}").status_code == 200, timeout_s=120, what="the analyst DAG")
    admin.patch(f"/api/v2/dags/{analyst_dag}", json={"is_paused": False}).raise_for_status()
    run_id = api.trigger(running, "adult_income")
    api.awaiting(admin, "adult_income", run_id, timeout_s=900)
    approved = api.cli(running, "steward", "approve", run_id, "--release", "adult_income", "--comment", "for analysts")
    assert approved.returncode == 0, approved.stderr
    assert api.finished(admin, "adult_income", run_id, timeout_s=300) == "success"
    [version] = [path.name for path in api.versions(running, "adult_income")]

    def analyst_run() -> dict | None:
        runs = admin.get(f"/api/v2/dags/{analyst_dag}/dagRuns").json()["dag_runs"]
        done = [run for run in runs if run["state"] in ("success", "failed")]
        return done[0] if done else None

    run = api.wait(analyst_run, timeout_s=300, what="the analyst DAG's run")
    assert run["state"] == "success" and run["run_type"] == "asset_triggered", run
    [output] = running["analyst_output"].glob("adult_income_income_by_education_*.csv")
    assert output.name == f"adult_income_income_by_education_{version}.csv"


def test_a_scheduled_spec_gets_its_run_from_the_scheduler_and_reads_its_own_snapshot(running_stack):
    """The scheduler (not a trigger) creates the run with its data interval; `{ds}` in the source paths picks that
    day's snapshot, as the extract report in the run folder shows by its Cleveland row count."""
    running = running_stack
    admin = api.client(running, "admin")
    dag_id = "heart_scheduled"
    api.wait(lambda: admin.get(f"/api/v2/dags/{dag_id}").status_code == 200, timeout_s=120, what=f"{dag_id} parsed")
    admin.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": False}).raise_for_status()

    def first_scheduled_run() -> dict | None:
        runs = admin.get(f"/api/v2/dags/{dag_id}/dagRuns").json()["dag_runs"]
        done = [run for run in runs if run["run_type"] == "scheduled" and run["state"] in ("success", "failed")]
        return done[0] if done else None

    try:
        run = api.wait(first_scheduled_run, timeout_s=300, what=f"a scheduled run of {dag_id}")
    finally:
        admin.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": True}).raise_for_status()
    assert run["state"] == "success", run
    day = datetime.fromisoformat(run["data_interval_start"]).date()
    offset = (day - datetime.now(timezone.utc).date()).days
    assert offset in SNAPSHOT_ROWS, run["data_interval_start"]
    extract = read_json(run_folder(running["state"] / "pipeline", dag_id, run["dag_run_id"]) / "extract" / "report.json")
    assert extract["rows"]["cleveland"] == SNAPSHOT_ROWS[offset]


def _worker_running(running, pid: int) -> str | None:
    """Which of the stack's Celery workers runs the process `pid` (a task), if any."""
    workers = {pid: name for name, pid in json.loads((running["state"] / "stack.json").read_text())["pids"].items()
               if name in stack.WORKERS}
    try:
        return next((workers[parent.pid] for parent in psutil.Process(pid).parents() if parent.pid in workers), None)
    except psutil.NoSuchProcess:
        return None


def _kill_worker(running, worker: str) -> None:
    """SIGKILL the worker and every process under it, as an OOM kill or a lost machine would: no cleanup runs."""
    leader = psutil.Process(json.loads((running["state"] / "stack.json").read_text())["pids"][worker])
    for process in [leader, *leader.children(recursive=True)]:
        try:
            process.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass


def test_a_worker_killed_mid_task_then_a_clear_completes_the_run_without_a_second_charge(running_stack):
    """A worker is SIGKILLed while it runs a task after training. The scheduler fails the task when its heartbeats
    stop; nothing is published. The operator restarts the worker and clears the failed task with its downstream
    tasks: the run completes, publishes one version, and the ledger holds the one charge it made before the kill.
    (A cleared `train` is another fit, and is charged again by design: see the README.)"""
    running = running_stack
    dag_id = "heart_disease_b"
    run_id = api.trigger(running, dag_id)
    admin = api.client(running, "admin")
    run_path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"

    def a_check_running_on_a_worker() -> tuple[dict, str] | None:
        for ti in admin.get(f"{run_path}/taskInstances").json()["task_instances"]:
            if ti["task_id"] in ("sample", "validate", "reidentify", "report") and ti["state"] == "running" \
                    and ti.get("pid") and (worker := _worker_running(running, ti["pid"])):
                return ti, worker
        state = admin.get(run_path).json()["state"]  # queued until the scheduler picks the new run up
        assert state in ("queued", "running"), f"the run ended ({state}) before a task could be killed"
        return None

    ti, worker = api.wait(a_check_running_on_a_worker, timeout_s=600, every_s=0.5, what="a task after training")
    _kill_worker(running, worker)
    assert api.finished(admin, dag_id, run_id, timeout_s=HEARTBEAT_S + 240) == "failed"
    states = {t["task_id"]: t["state"] for t in admin.get(f"{run_path}/taskInstances").json()["task_instances"]}
    assert states[ti["task_id"]] == "failed" and states["publish"] in ("upstream_failed", None), states
    assert not [path for path in api.versions(running, dag_id)
                if json.loads((path / "manifest.json").read_text())["run_id"] == run_id]
    assert [entry["status"] for entry in api.ledger_entries(running, run_id)] == ["spent"]

    stack.restart(running["state"], worker)
    api.wait(lambda: stack.health(running["state"])[worker], timeout_s=120, what=f"{worker} back")
    failed = [task for task, state in states.items() if state == "failed"]
    admin.post(f"/api/v2/dags/{dag_id}/clearTaskInstances", json={
        "dry_run": False, "dag_run_id": run_id, "task_ids": failed, "include_downstream": True,
        "only_failed": False, "reset_dag_runs": True}).raise_for_status()
    api.awaiting(admin, dag_id, run_id)
    approved = api.cli(running, "steward", "approve", run_id, "--release", dag_id, "--comment", "after the clear")
    assert approved.returncode == 0, approved.stderr
    assert api.finished(admin, dag_id, run_id, timeout_s=300) == "success"
    published = [path for path in api.versions(running, dag_id)
                 if json.loads((path / "manifest.json").read_text())["run_id"] == run_id]
    assert len(published) == 1
    assert [entry["status"] for entry in api.ledger_entries(running, run_id)] == ["spent"]
