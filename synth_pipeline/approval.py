"""Steward approval: answering Airflow's human-in-the-loop task over its REST API, and the four-eyes rule.

Airflow enforces who may answer (the task's assigned users: the spec's stewards). The project adds what Airflow
does not: the person who triggered a run may not approve it, and only an explicit "Approve" publishes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from synth_pipeline.errors import ApprovalError

APPROVE = "Approve"
REJECT = "Reject"
APPROVAL_TASK = "approve"
API_URL_ENV = "SYNTH_PIPELINE_AIRFLOW_URL"
USER_ENV = "SYNTH_PIPELINE_STEWARD_USER"
PASSWORD_ENV = "SYNTH_PIPELINE_STEWARD_PASSWORD"


@dataclass(frozen=True)
class Decision:
    """A steward's recorded answer, as it goes into the manifest."""

    approved: bool
    by: str
    at: str
    comment: str


def decision_from_response(response: Mapping) -> Decision:
    """Read the approval task's result (Airflow's HITL payload) into a Decision."""
    chosen = list(response.get("chosen_options") or [])
    user = response.get("responded_by_user") or {}
    return Decision(
        approved=chosen == [APPROVE],
        by=str(user.get("id") or user.get("name") or ""),
        at=str(response.get("responded_at") or ""),
        comment=str((response.get("params_input") or {}).get("comment") or ""),
    )


def check_four_eyes(decision: Decision, *, stewards: Sequence[str], triggered_by: str | None) -> None:
    if not decision.approved:
        raise ApprovalError("the release was not approved; nothing is published")
    if decision.by not in stewards:
        raise ApprovalError(f"{decision.by!r} approved, but is not one of the release's stewards ({', '.join(stewards)})")
    if triggered_by and decision.by == triggered_by:
        raise ApprovalError(f"four-eyes rule: {decision.by!r} triggered this run and may not approve it")


class StewardClient:
    """Talks to the Airflow REST API as a steward (Airflow's simple or FAB auth manager, token login)."""

    def __init__(self, base_url: str | None = None, *, username: str | None = None, password: str | None = None, http=None):
        import httpx

        self.username = username or os.environ.get(USER_ENV, "")
        password = password if password is not None else os.environ.get(PASSWORD_ENV, "")
        if not self.username:
            raise ApprovalError(f"no steward user: pass --user or set {USER_ENV}")
        self._http = http or httpx.Client(base_url=base_url or os.environ.get(API_URL_ENV, "http://localhost:8080"), timeout=30)
        response = self._http.post("/auth/token", json={"username": self.username, "password": password})
        if response.status_code >= 400:
            raise ApprovalError(f"login as {self.username!r} failed ({response.status_code}): {_detail(response)}")
        self._headers = {"Authorization": f"Bearer {response.json()['access_token']}"}

    def pending(self) -> list[dict]:
        """Release runs waiting for a decision: one entry per approval task awaiting input."""
        response = self._http.get(
            "/api/v2/dags/~/dagRuns/~/hitlDetails",
            params={"task_id": APPROVAL_TASK, "response_received": "false", "limit": 100},
            headers=self._headers,
        )
        _raise_for(response, "listing pending approvals")
        return [
            {"dag_id": item["task_instance"]["dag_id"], "run_id": item["task_instance"]["dag_run_id"],
             "subject": item["subject"], "body": item.get("body") or "", "created_at": item["created_at"],
             "stewards": [user["id"] for user in item.get("assigned_users") or []]}
            for item in response.json()["hitl_details"]
        ]

    def respond(self, run_id: str, *, approve: bool, comment: str, dag_id: str | None = None) -> dict:
        matches = [p for p in self.pending() if p["run_id"] == run_id and dag_id in (None, p["dag_id"])]
        if not matches:
            raise ApprovalError(f"no release run {run_id!r} is waiting for a decision (see `synth-pipeline pending`)")
        if len(matches) > 1:
            raise ApprovalError(f"run id {run_id!r} is pending in several releases; pass --release")
        target = matches[0]
        response = self._http.patch(
            f"/api/v2/dags/{target['dag_id']}/dagRuns/{run_id}/taskInstances/{APPROVAL_TASK}/-1/hitlDetails",
            json={"chosen_options": [APPROVE if approve else REJECT], "params_input": {"comment": comment}},
            headers=self._headers,
        )
        _raise_for(response, f"answering {target['dag_id']} {run_id}")
        return {"dag_id": target["dag_id"], "run_id": run_id, "decision": APPROVE if approve else REJECT, "by": self.username}


def _detail(response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = response.text
    return str(detail)[:300]


def _raise_for(response, doing: str) -> None:
    if response.status_code == 403:
        raise ApprovalError(f"{doing}: Airflow refused: {_detail(response)}")
    if response.status_code == 409:
        raise ApprovalError(f"{doing}: this run has already been answered")
    if response.status_code >= 400:
        raise ApprovalError(f"{doing}: HTTP {response.status_code}: {_detail(response)}")
