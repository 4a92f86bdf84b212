"""`synth-pipeline run NAME` (synth_pipeline_local): arguments refused or shown without side effects, a clear error
for an unreachable API server, and real runs that stop at the approval for a steward answering through the CLI."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from local_run_support import CLI, RunProcess, env_without_state, free_port, steward
from publishable import publishable
from testsupport import ROOT

def _tree(folder: Path) -> dict[str, float]:
    return {str(path): path.stat().st_mtime for path in folder.rglob("*")} if folder.exists() else {}


@pytest.mark.slow  # four subprocesses that import Airflow: about 5 s
@pytest.mark.parametrize("command", [[CLI, "run"], [sys.executable, str(ROOT / "scripts" / "run_release.py")]],
                         ids=["synth-pipeline run", "run_release.py"])
def test_help_has_no_side_effects(project, tmp_path, command):
    repo_state = _tree(ROOT / ".state")
    done = subprocess.run([*command, "--help"], capture_output=True, text=True, cwd=tmp_path, env=env_without_state(), timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--approve-as-demo-steward" in done.stdout and "--releases" in done.stdout
    done = subprocess.run([*command, "heart_disease", "--releases", str(project / "releases"), "--help"],
                          capture_output=True, text=True, cwd=tmp_path, env=env_without_state(), timeout=120)
    assert done.returncode == 0, done.stderr
    assert not (project / ".state").exists() and not (project / "published").exists()  # no ledger, no folder
    assert _tree(ROOT / ".state") == repo_state


@pytest.mark.parametrize("command", [[CLI, "run"], [sys.executable, str(ROOT / "scripts" / "run_release.py")]],
                         ids=["synth-pipeline run", "run_release.py"])
@pytest.mark.parametrize("arguments", [["heart_disease", "--bogus"], ["--reject", "heart_disease"],
                                       ["heart_disease", "extra"]])
@pytest.mark.slow  # six subprocesses, about 8 s
def test_unknown_arguments_are_refused(project, tmp_path, command, arguments):
    repo_state = _tree(ROOT / ".state")
    done = subprocess.run([*command, *arguments, "--releases", str(project / "releases")], capture_output=True,
                          text=True, cwd=tmp_path, env=env_without_state(), timeout=120)
    assert done.returncode == 2 and "unrecognized arguments" in done.stderr, done.stderr
    assert not (project / ".state").exists() and _tree(ROOT / ".state") == repo_state


def test_an_unknown_release_is_a_clear_error(project, tmp_path):
    done = subprocess.run([CLI, "run", "no_such_release", "--releases", str(project / "releases")],
                          capture_output=True, text=True, cwd=tmp_path, env=env_without_state(), timeout=120)
    assert done.returncode == 2, done.stderr
    assert "no release 'no_such_release'" in done.stderr and "heart_disease" in done.stderr
    assert "Traceback" not in done.stderr and not (project / ".state").exists()


def test_a_demo_answer_for_a_spec_without_approval_is_refused_before_anything_runs(project, tmp_path):
    """A spec without `approval` ends with the report and publishes nothing: there is nothing to answer."""
    import yaml

    spec = project / "releases" / "heart_disease.yaml"
    document = yaml.safe_load(spec.read_text())
    document.pop("approval")
    spec.write_text(yaml.safe_dump(document, sort_keys=False))
    done = subprocess.run([CLI, "run", "heart_disease", "--releases", str(project / "releases"),
                           "--approve-as-demo-steward"], capture_output=True, text=True, cwd=tmp_path,
                          env=env_without_state(), timeout=120)
    assert done.returncode == 2 and "has no approval block" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (project / ".state").exists()


@pytest.mark.parametrize("arguments", [["pending"], ["approve", "manual__x"], ["reject", "manual__x", "--comment", "no"]])
def test_a_steward_command_against_an_unreachable_server_says_so(arguments, monkeypatch, capsys):
    from synth_pipeline.cli import main

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("SYNTH_PIPELINE_STEWARD_USER", "steward")
    monkeypatch.setenv("SYNTH_PIPELINE_STEWARD_PASSWORD", "irrelevant")
    assert main([*arguments, "--api-url", url]) == 2
    err = capsys.readouterr().err
    assert f"cannot reach the Airflow API server at {url}" in err and "synth-pipeline run" in err, err
    assert "--api-url" in err and "Traceback" not in err


def test_the_steward_password_can_come_from_the_passwords_file(tmp_path, monkeypatch):
    from synth_pipeline.approval import ApprovalError, _password

    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({"steward": "from-the-file"}))
    monkeypatch.delenv("SYNTH_PIPELINE_STEWARD_PASSWORD", raising=False)
    monkeypatch.setenv("SYNTH_PIPELINE_STEWARD_PASSWORD_FILE", str(passwords))
    assert _password("steward") == "from-the-file"
    with pytest.raises(ApprovalError, match="no password for 'alice'"):
        _password("alice")
    monkeypatch.setenv("SYNTH_PIPELINE_STEWARD_PASSWORD", "from-the-environment")
    assert _password("steward") == "from-the-environment"


def _answer_through_the_cli(project: Path, verb: str, *comment: str) -> tuple[int, str, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    run = RunProcess(project, port)
    try:
        line = run.wait_for(f"synth-pipeline {verb} ")
        run_id = line.split(f"synth-pipeline {verb} ")[1].split(" --api-url")[0].strip("'")
        assert f"--api-url {url}" in line
        pending = steward(project, url, "pending")
        assert pending.returncode == 0 and run_id in pending.stdout, pending.stderr
        answered = steward(project, url, verb, run_id, *comment)
        assert answered.returncode == 0, answered.stderr
        code, output = run.finish()
    finally:
        if run.process.poll() is None:
            run.process.kill()
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):  # the run's API server stopped with it
        probe.connect(("127.0.0.1", port))
    return code, output, run_id


@pytest.mark.slow
def test_run_waits_for_a_steward_who_approves_through_the_cli(project):
    from synth_pipeline import catalog

    publishable(project / "releases" / "heart_disease.yaml")
    code, output, run_id = _answer_through_the_cli(project, "approve", "--comment", "read the report")
    assert code == 0, output
    for task in ("extract", "train", "reidentify", "report", "approve", "publish"):
        assert f"ok   {task} " in output, output  # the progress view, with each task's time
    assert "waiting for a steward" in output and "DEMO" not in output
    manifest = catalog.verify("heart_disease", location=project / "published")
    assert manifest["run_id"] == run_id
    assert manifest["approval"]["by"] == "steward" and manifest["approval"]["comment"] == "read the report"


@pytest.mark.slow
def test_a_rejection_through_the_cli_fails_the_command_and_publishes_nothing(project):
    publishable(project / "releases" / "heart_disease.yaml")
    code, output, run_id = _answer_through_the_cli(project, "reject", "--comment", "too risky")
    assert code == 2, output
    assert f"run {run_id} of heart_disease was rejected by the steward; nothing was published" in output
    assert not (project / "published").exists()


@pytest.mark.slow
def test_an_unanswered_run_stops_at_its_timeout_then_the_demo_steward_approves_the_next(project):
    """--timeout: nothing published, the run failed (no stale approval left pending); then `make demo`'s path."""
    import sqlite3

    from synth_pipeline import catalog

    publishable(project / "releases" / "heart_disease.yaml")
    run = RunProcess(project, free_port(), "--timeout", "3")
    run.wait_for("synth-pipeline approve ")
    code, output = run.finish()
    assert code == 2 and "was not answered in time and was stopped; nothing was published" in output, output
    assert not (project / "published").exists()
    with sqlite3.connect(project / ".state" / "airflow" / "airflow.db") as db:
        assert db.execute("SELECT state FROM dag_run WHERE dag_id = 'heart_disease'").fetchall() == [("failed",)]

    run = RunProcess(project, free_port(), "--approve-as-demo-steward")
    code, output = run.finish(timeout_s=600)
    assert code == 0, output
    assert "NOBODY REVIEWS THE STEWARD'S REPORT" in output and "synth-pipeline approve " not in output
    assert "the demo steward 'steward' answered Approve through the REST API" in output
    manifest = catalog.verify("heart_disease", location=project / "published")
    assert manifest["approval"]["by"] == "steward" and "nobody reviewed the report" in manifest["approval"]["comment"]
