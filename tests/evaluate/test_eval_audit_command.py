"""`synth-pipeline audit`: a real, charged training run with planted canaries, under a run id of its own."""

from __future__ import annotations

import json
import re

import pytest

from pipeline_runs import pin_spec
from synth_pipeline.cli import main as cli
from synth_pipeline.privacy.ledger import open_ledger


@pytest.mark.slow
def test_audit_trains_with_canaries_is_charged_and_bounds_epsilon_below_the_claim(project, state_dir, capsys):
    spec = project / "releases" / "heart_disease.yaml"
    pin_spec(spec, seed=3)
    runs = []
    for _ in range(2):
        assert cli(["audit", str(spec), "--canaries", "200", "--json"]) == 0
        result = json.loads(capsys.readouterr().out.split("\n", 1)[1])
        assert result["canaries"] == 200 and 60 < result["canaries_included"] < 140
        assert 0 <= result["epsilon_lower_bound"] <= result["claimed_epsilon"] == 2.0 and result["consistent"]
        assert re.fullmatch(r"audit__\d{8}T\d{6}Z__[0-9a-f]{8}", result["run_id"])
        assert (state_dir / "runs" / "heart_disease" / result["run_id"] / "audit" / "report.json").is_file()
        runs.append(result["run_id"])
    # Each audit read private data through a real fit under a run id it minted: two audits, two charges, both kept.
    assert runs[0] != runs[1]
    with open_ledger(project) as ledger:
        [standing] = ledger.summary("heart_disease")
    assert [(e.run_id, e.attempt, e.status) for e in standing.entries] == [(run, 1, "spent") for run in runs]
    assert standing.spent_epsilon == 4.0


@pytest.mark.parametrize("run_id", ["manual__2026-01-01T00:00:00+00:00", "audit__20260101T000000Z__0123abcd"])
def test_an_audit_never_takes_a_run_id_from_the_caller(project, state_dir, capsys, run_id):
    # An audit under an existing run's id would fit under that run's charge and overwrite its partitions.
    with pytest.raises(SystemExit) as refused:
        cli(["audit", str(project / "releases" / "heart_disease.yaml"), "--run-id", run_id])
    assert refused.value.code == 2 and "unrecognized arguments: --run-id" in capsys.readouterr().err
    assert not (state_dir / "runs").exists()
