"""Talking to the running stack, as its users do: tokens from the API server, REST calls, the `synth-pipeline`
command with a steward's credentials, and what the stack leaves behind (published versions, ledger entries)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import stack

PORT = 28180
CLI = str(Path(sys.executable).parent / "synth-pipeline")


def client(running, user: str) -> httpx.Client:
    client = httpx.Client(base_url=running["url"], timeout=30)
    token = client.post("/auth/token", json={"username": user, "password": running["passwords"][user]})
    token.raise_for_status()
    client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return client


def wait(condition, *, timeout_s: float, every_s: float = 3.0, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def cli(running, user: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SYNTH_PIPELINE_AIRFLOW_URL": running["url"], "SYNTH_PIPELINE_STEWARD_USER": user,
           "SYNTH_PIPELINE_STEWARD_PASSWORD": running["passwords"][user]}
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120)


def trigger(running, dag_id: str) -> str:
    admin, operator = client(running, "admin"), client(running, "operator")
    wait(lambda: admin.get(f"/api/v2/dags/{dag_id}").status_code == 200, timeout_s=120, what=f"{dag_id} parsed")
    admin.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": False}).raise_for_status()
    response = operator.post(f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None})
    response.raise_for_status()
    return response.json()["dag_run_id"]


def finished(admin: httpx.Client, dag_id: str, run_id: str, *, timeout_s: float) -> str:
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"
    return wait(lambda: (state := admin.get(path).json()["state"]) in ("success", "failed") and state,
                 timeout_s=timeout_s, what=f"{dag_id} {run_id} to finish")


def awaiting(admin: httpx.Client, dag_id: str, run_id: str, *, timeout_s: float = 600) -> None:
    run = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"

    def awaiting() -> bool:
        if admin.get(f"{run}/taskInstances/approve").json().get("state") == "awaiting_input":
            return True
        if admin.get(run).json()["state"] == "failed":  # no point waiting: say which task failed
            states = {ti["task_id"]: ti["state"] for ti in admin.get(f"{run}/taskInstances").json()["task_instances"]}
            raise AssertionError(f"{dag_id} {run_id} failed before its approval: {states}")
        return False

    wait(awaiting, timeout_s=timeout_s, what=f"{dag_id} to await the steward")


def versions(running, release: str) -> list[Path]:
    folder = running["project"] / "published" / release
    return sorted(path for path in folder.iterdir() if path.is_dir()) if folder.is_dir() else []


def ledger_entries(running, run_id: str) -> list[dict]:
    listing = subprocess.run([CLI, "budget", "heart_disease", "--json"], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "SYNTH_PIPELINE_LEDGER_URL": stack.environment(
                                 running["state"], running["project"] / "releases", PORT,
                                 running["record"]["name"])["SYNTH_PIPELINE_LEDGER_URL"],
                                  "SYNTH_PIPELINE_LEDGER_CONFIG": str(running["project"] / "config" / "ledger.yaml")})
    assert listing.returncode == 0, listing.stderr
    [dataset] = json.loads(listing.stdout)
    return [entry for entry in dataset["entries"] if entry["run_id"] == run_id]
