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
# Airflow's simple-auth-manager passwords file ({user: password}), as `synth-pipeline run` makes one per state folder.
PASSWORD_FILE_ENV = "SYNTH_PIPELINE_STEWARD_PASSWORD_FILE"
DEFAULT_API_URL = "http://localhost:8080"


class ApiServerUnreachable(ApprovalError):
    """No Airflow API server answers at the URL (refused, unknown host, timed out)."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"cannot reach the Airflow API server at {url} ({reason}); start one with `synth-pipeline "
                         f"run RELEASE` (it prints the URL to use) or set --api-url / ${API_URL_ENV}")
        self.url = url


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
        if not self.username:
            raise ApprovalError(f"no steward user: pass --user or set {USER_ENV}")
        password = password if password is not None else _password(self.username)
        self.url = base_url or os.environ.get(API_URL_ENV) or DEFAULT_API_URL
        self._http = http or httpx.Client(base_url=self.url, timeout=30)
        response = self._request("post", "/auth/token", json={"username": self.username, "password": password})
        if response.status_code >= 400:
            raise ApprovalError(f"login as {self.username!r} failed ({response.status_code}): {_detail(response)}")
        try:
            token = response.json()["access_token"]
        except (ValueError, KeyError, TypeError):
            raise ApprovalError(f"{self.url} answered the login without a token: is it an Airflow 3 API server?") from None
        self._headers = {"Authorization": f"Bearer {token}"}

    def _request(self, method: str, path: str, **options):
        import httpx

        try:
            return getattr(self._http, method)(path, **options)
        except httpx.TransportError as exc:  # refused, DNS, timeout: no traceback, a typed error naming the URL
            raise ApiServerUnreachable(self.url, type(exc).__name__) from None

    def pending(self) -> list[dict]:
        """Release runs waiting for a decision: one entry per approval task awaiting input."""
        response = self._request(
            "get", "/api/v2/dags/~/dagRuns/~/hitlDetails",
            # Only tasks still waiting (AWAITING_INPUT on Airflow 3.3+, DEFERRED before): an approval task whose run
            # was failed or stopped meanwhile keeps its unanswered request, which nobody can act on any more.
            params={"task_id": APPROVAL_TASK, "response_received": "false", "state": ["awaiting_input", "deferred"],
                    "limit": 100},
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
        response = self._request(
            "patch", f"/api/v2/dags/{target['dag_id']}/dagRuns/{run_id}/taskInstances/{APPROVAL_TASK}/-1/hitlDetails",
            json={"chosen_options": [APPROVE if approve else REJECT], "params_input": {"comment": comment}},
            headers=self._headers,
        )
        _raise_for(response, f"answering {target['dag_id']} {run_id}")
        return {"dag_id": target["dag_id"], "run_id": run_id, "decision": APPROVE if approve else REJECT, "by": self.username}


def _password(user: str) -> str:
    """$SYNTH_PIPELINE_STEWARD_PASSWORD, else the user's entry in $SYNTH_PIPELINE_STEWARD_PASSWORD_FILE."""
    if PASSWORD_ENV in os.environ or PASSWORD_FILE_ENV not in os.environ:
        return os.environ.get(PASSWORD_ENV, "")
    import json

    path = os.environ[PASSWORD_FILE_ENV]
    try:
        passwords = json.loads(open(path, encoding="utf-8").read())
    except (OSError, ValueError) as exc:
        raise ApprovalError(f"cannot read the steward passwords file {path} (${PASSWORD_FILE_ENV}): "
                            f"{getattr(exc, 'strerror', None) or type(exc).__name__}") from None
    if not isinstance(passwords, dict) or user not in passwords:
        raise ApprovalError(f"no password for {user!r} in {path} (${PASSWORD_FILE_ENV})")
    return str(passwords[user])


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
