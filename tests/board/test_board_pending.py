"""Pending approvals: runs whose approve task waits, their summaries, the stewards' reports, and decisions that go
through Airflow's HITL handler as the logged-in user, with the four-eyes rules and every refusal shown."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from boardsupport import BOARD, RELEASE

from synth_pipeline.runs import run_folder

BODY = "### Release `board_release`\n**Privacy:** this run spent epsilon 2 (delta 1e-05); 1.5 remains. <b>x</b>"


def _run_url(run_id: str, tail: str, *, api: bool = False) -> str:
    return f"{BOARD}{'/api' if api else ''}/pending/{RELEASE}/{quote(run_id, safe='')}/{tail}"


def _hitl(client, auth, run_id: str) -> dict:
    url = f"/api/v2/dags/{RELEASE}/dagRuns/{quote(run_id, safe='')}/taskInstances/approve/-1/hitlDetails"
    return client.get(url, headers=auth("steward")).json()


def _mine(client, headers, run_id: str) -> list[dict]:
    return [p for p in client.get(f"{BOARD}/api/pending", headers=headers).json()["pending"] if p["run_id"] == run_id]


def test_a_waiting_run_is_listed_with_its_summary(client, auth, park_approval, state_dir):
    run_id = park_approval(body=BODY)
    report = run_folder(state_dir, RELEASE, run_id) / "report" / "report.html"
    report.parent.mkdir(parents=True)
    report.write_text("<p>internal</p>")

    viewer = auth("analyst", "viewer")
    [item] = _mine(client, viewer, run_id)
    assert item["body"] == BODY and item["stewards"] == ["steward"] and item["assigned_users"] == ["steward"]
    assert item["triggered_by"] == "alice" and item["report_available"] and not item["you_may_answer"]
    page = client.get(f"{BOARD}/pending", headers=viewer).text
    card = page[page.index(run_id):]
    assert "1.5 remains. &lt;b&gt;x&lt;/b&gt;" in card  # the HITL body, escaped
    assert "for the release's stewards only" in card and "/report" not in card and "<form" not in card

    steward = auth("steward")
    assert _mine(client, steward, run_id)[0]["you_may_answer"]
    page = client.get(f"{BOARD}/pending", headers=steward).text
    card = page[page.index(f"<b>run</b> {run_id}"):]
    card = card[:card.index("</section>")]
    assert f'href="{_run_url(run_id, "report")}"' in card
    assert f'<form method="post" action="{_run_url(run_id, "decision")}">' in card
    assert 'value="approve">Approve</button>' in card and 'value="reject">Reject</button>' in card


def test_a_run_without_a_report_says_so(client, auth, park_approval):
    run_id = park_approval()
    steward = auth("steward")
    assert not _mine(client, steward, run_id)[0]["report_available"]
    assert client.get(_run_url(run_id, "report"), headers=steward).status_code == 404


def test_the_steward_approves_through_airflows_hitl_api(client, auth, park_approval):
    run_id = park_approval()
    response = client.post(_run_url(run_id, "decision", api=True), headers=auth("steward"),
                           json={"decision": "approve", "comment": "utility and risk within gates"})
    assert response.status_code == 200 and response.json()["recorded"], response.text
    detail = _hitl(client, auth, run_id)
    assert detail["chosen_options"] == ["Approve"] and detail["responded_by_user"]["id"] == "steward"
    assert detail["params_input"] == {"comment": "utility and risk within gates"}
    assert detail["task_instance"]["state"] == "scheduled"  # Airflow resumed the parked task
    assert _mine(client, auth("steward"), run_id) == []
    logs = client.get("/api/v2/eventLogs", headers=auth("steward"),
                      params={"event": "update_hitl_detail", "dag_id": RELEASE, "run_id": run_id}).json()
    assert [entry["owner"] for entry in logs["event_logs"]] == ["steward"]  # Airflow's audit log, as for /api/v2


def test_a_second_answer_is_refused_by_airflow_and_shown(client, auth, park_approval):
    run_id = park_approval()
    steward = auth("steward")
    client.post(_run_url(run_id, "decision"), headers=steward, data={"decision": "reject", "comment": "no"})
    again = client.post(_run_url(run_id, "decision"), headers=steward, data={"decision": "approve"})
    assert again.status_code == 409
    assert "Airflow refused: Human-in-the-loop detail has already been updated" in again.text
    assert _hitl(client, auth, run_id)["chosen_options"] == ["Reject"]


def test_a_rejection_needs_a_comment(client, auth, park_approval):
    run_id = park_approval()
    response = client.post(_run_url(run_id, "decision", api=True), headers=auth("steward"),
                           json={"decision": "reject", "comment": "  "})
    assert response.status_code == 400 and "needs a comment" in response.json()["detail"]
    assert not _hitl(client, auth, run_id)["response_received"]


def test_whoever_triggered_the_run_may_reject_it_not_approve_it(client, auth, park_approval):
    run_id = park_approval(triggered_by="steward")
    steward = auth("steward")
    page = client.get(f"{BOARD}/pending", headers=steward).text
    assert "You triggered this run" in page[page.index(run_id):]
    refused = client.post(_run_url(run_id, "decision"), headers=steward, data={"decision": "approve"})
    assert refused.status_code == 403 and "four-eyes rule: &#x27;steward&#x27; triggered this run" in refused.text
    assert not _hitl(client, auth, run_id)["response_received"]
    rejected = client.post(_run_url(run_id, "decision"), headers=steward,
                           data={"decision": "reject", "comment": "my own run"})
    assert rejected.status_code == 200 and "Recorded: reject" in rejected.text


def test_a_spec_steward_airflow_does_not_assign_is_refused_by_airflow(client, auth, park_approval, board):
    """The board checks the spec's stewards; Airflow still checks the task's assigned users, and its refusal shows."""
    run_id = park_approval(triggered_by="bob")  # assigned: steward only
    spec = board / "releases" / f"{RELEASE}.yaml"
    spec.write_text(re.sub(r"stewards: \[steward\]", "stewards: [steward, alice]", spec.read_text()))
    response = client.post(_run_url(run_id, "decision"), headers=auth("alice"), data={"decision": "approve"})
    assert response.status_code == 403
    assert "Airflow refused: User=alice (id=alice) is not a respondent for the task." in response.text
    assert not _hitl(client, auth, run_id)["response_received"]


def test_a_browser_form_needs_its_token(client, auth, park_approval):
    """A browser sends Airflow's session cookie with any form: the board accepts a form only with the token of the
    page it rendered for that session."""
    run_id = park_approval()
    token = auth("steward")["Authorization"].removeprefix("Bearer ")
    client.cookies.set("_token", token)
    page = client.get(f"{BOARD}/pending", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "Signed in as steward" in page.text
    csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text).group(1)

    forged = client.post(_run_url(run_id, "decision"), data={"decision": "approve"}, headers={"Accept": "text/html"})
    assert forged.status_code == 403 and "reload the page" in forged.text
    assert not _hitl(client, auth, run_id)["response_received"]
    sent = client.post(_run_url(run_id, "decision"), data={"decision": "approve", "comment": "", "csrf": csrf})
    assert sent.status_code == 200 and "Recorded: approve" in sent.text
    assert _hitl(client, auth, run_id)["responded_by_user"]["id"] == "steward"


@pytest.mark.parametrize("decision", ["publish", ""])
def test_only_approve_or_reject(client, auth, park_approval, decision):
    run_id = park_approval()
    response = client.post(_run_url(run_id, "decision", api=True), headers=auth("steward"),
                           json={"decision": decision, "comment": "x"})
    assert response.status_code == 400 and not _hitl(client, auth, run_id)["response_received"]
