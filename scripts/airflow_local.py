"""Airflow on the embedded defaults, in-process: the demo and the tests use it.

A steward answers the approval task through Airflow's real REST handler (its FastAPI app, in-process), exactly the
PATCH .../hitlDetails call that `synth-pipeline approve` sends to a running api-server.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_STEWARD = "steward"
DEMO_PASSWORD = "demo-steward-password"  # the embedded demo's only user; production uses its auth manager's users


def embedded_environment(home: Path) -> None:
    """SQLite metadata in `home`, this project's DAGs, and a steward user for the simple auth manager."""
    home.mkdir(parents=True, exist_ok=True)
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({DEMO_STEWARD: DEMO_PASSWORD}))
    os.environ.setdefault("AIRFLOW_HOME", str(home))
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", f"{DEMO_STEWARD}:op")
    os.environ.setdefault("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(passwords))
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    # Airflow signs API tokens with this; its generated default is shorter than SHA-512 wants.
    os.environ.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_hex(32))


def migrate() -> None:
    subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], check=True, stdout=subprocess.DEVNULL)


def wait_for_pending(steward, *, timeout_s: float) -> list[dict]:
    """Poll the REST API until an approval is pending, backing off from 0.5 s to 5 s: the handler runs in this
    process, and polling it twice a second took CPU from the release's own tasks (a slower evaluation)."""
    deadline, interval = time.monotonic() + timeout_s, 0.5
    while time.monotonic() < deadline:
        pending = steward.pending()
        if pending:
            return pending
        time.sleep(interval)
        interval = min(interval * 1.5, 5.0)
    return []


def answer_in_background(*, approve: bool, comment: str, user: str = DEMO_STEWARD, password: str = DEMO_PASSWORD,
                         timeout_s: float = 600) -> dict:
    """Start a thread that waits for a pending approval and answers it; the returned dict fills in when done."""
    outcome: dict = {}

    def answer() -> None:
        from airflow.api_fastapi.app import create_app
        from fastapi.testclient import TestClient

        from synth_pipeline.approval import StewardClient

        steward = StewardClient(username=user, password=password, http=TestClient(create_app()))
        pending = wait_for_pending(steward, timeout_s=timeout_s)
        if not pending:
            outcome["error"] = TimeoutError("no approval became pending")
            return
        try:
            outcome.update(steward.respond(pending[0]["run_id"], approve=approve, comment=comment))
        except Exception as exc:  # reported to the caller, which decides what it means
            outcome["error"] = exc

    threading.Thread(target=answer, daemon=True, name="steward").start()
    return outcome
