"""`synth-pipeline audit`: a real, charged training run with planted canaries."""

from __future__ import annotations

import json

import pytest

from pipeline_runs import entry_status, pin_spec
from synth_pipeline.cli import main as cli

pytestmark = pytest.mark.slow


def test_audit_trains_with_canaries_is_charged_and_bounds_epsilon_below_the_claim(project, state_dir, capsys):
    spec = project / "releases" / "heart_disease.yaml"
    pin_spec(spec, seed=3)
    assert cli(["audit", str(spec), "--canaries", "200", "--run-id", "audit1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert result["canaries"] == 200 and 60 < result["canaries_included"] < 140
    assert 0 <= result["epsilon_lower_bound"] <= result["claimed_epsilon"] == 2.0 and result["consistent"]
    # The audit read private data through a real fit: it is charged like a release run, and the charge is kept.
    assert entry_status(spec, "audit1") == "spent"
    assert (state_dir / "runs" / "heart_disease" / "audit1" / "audit" / "report.json").is_file()
