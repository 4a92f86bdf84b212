"""The README's "Your own table", end to end in a fresh project: `init` on a bundled table that has no spec, the
TODOs filled from public knowledge, `validate-spec`, `run` stopping at the approval, a steward approving through the
CLI after `pending` lists the run, and an analyst loading the signed release."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from local_run_support import CLI, RunProcess, env_without_state, free_port, steward
from own_table import add_ledger_entry, fill_in
from testsupport import ROOT

pytestmark = pytest.mark.slow


def _cli(project, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *arguments], capture_output=True, text=True, cwd=project, env=env_without_state(),
                          timeout=600)


def test_a_new_table_goes_from_init_to_a_loaded_release_approved_by_a_steward(tmp_path):
    from synth_pipeline import catalog

    project = tmp_path / "project"
    shutil.copytree(ROOT / "data" / "bank_customers", project / "data" / "bank_customers")
    spec = project / "releases" / "bank_customers.yaml"

    started = _cli(project, "init", "bank_customers", "--from", "data/bank_customers/bank.csv")
    assert started.returncode == 0, started.stderr
    assert "wrote releases/bank_customers.yaml" in started.stdout and "left to fill in" in started.stdout
    assert "# atoms: [0]" in spec.read_text()  # suggested from the column name `balance`, commented out

    unfinished = _cli(project, "validate-spec", "releases/bank_customers.yaml")
    assert unfinished.returncode == 1
    assert "schema.job.categories: left to fill in" in unfinished.stderr and "privacy.epsilon" in unfinished.stderr

    fill_in(spec, steward="steward")
    add_ledger_entry(project)
    checked = _cli(project, "validate-spec", "releases/bank_customers.yaml")
    assert checked.returncode == 0 and "OK" in checked.stdout, checked.stderr

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    run = RunProcess(project, port, release="bank_customers")
    try:
        line = run.wait_for("synth-pipeline approve ")
        run_id = line.split("synth-pipeline approve ")[1].split(" --api-url")[0].strip("'")
        pending = steward(project, url, "pending")
        assert pending.returncode == 0 and run_id in pending.stdout, pending.stderr
        answered = steward(project, url, "approve", run_id, "--comment", "read the report: fit for teaching")
        assert answered.returncode == 0, answered.stderr
        code, output = run.finish()
    finally:
        if run.process.poll() is None:
            run.process.kill()
    assert code == 0, output
    assert "ok   train " in output and "ok   publish " in output and "DEMO" not in output

    table = catalog.load("bank_customers", location=project / "published")
    assert list(table.columns)[:3] == ["age", "job", "marital"] and len(table) > 1000
    assert set(table["month"].dropna()) <= {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                            "nov", "dec"}
    assert (table["pdays"] == -1).mean() > 0.5  # the declared atom comes back exactly
    manifest = catalog.verify("bank_customers", location=project / "published")
    assert manifest["approval"]["by"] == "steward" and manifest["run_id"] == run_id
