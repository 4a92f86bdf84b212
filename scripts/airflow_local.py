"""A steward answering from a thread through Airflow's real REST handler (its FastAPI app, in-process): the tests
that run a release DAG with `dag.test()` use it. It sends exactly the PATCH .../hitlDetails call that
`synth-pipeline approve` sends to a running api-server. `synth-pipeline run` (synth_pipeline_local) is the local
way to run a release and answer it; this module holds no secret: the caller passes the steward's password.
"""

from __future__ import annotations

import threading
import time

STEWARD = "steward"  # the bundled specs' steward


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


def answer_in_background(*, approve: bool, comment: str, password: str, user: str = STEWARD,
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
