from __future__ import annotations

from synth_pipeline.cli import main as cli


def test_run_steps_and_show_the_run(project, state_dir, capsys):
    spec = str(project / "releases" / "heart_disease.yaml")
    for step in ("extract", "harmonize", "quality_gate"):
        assert cli(["run-step", step, spec, "--run-id", "dev1"]) == 0
    capsys.readouterr()
    assert cli(["show-run", spec]) == 0
    out = capsys.readouterr().out
    assert str(state_dir / "runs" / "heart_disease" / "dev1") in out
    assert "918 rows out; 0 rejected, 2 duplicates removed" in out
    assert "passed: 23 expectations of suite 'heart_disease'" in out


def test_pipeline_errors_exit_2_with_the_reason(project, state_dir, capsys):
    spec = project / "releases" / "heart_disease.yaml"
    (project / "data" / "heart_disease" / "processed.va.data").unlink()
    assert cli(["run-step", "extract", str(spec), "--run-id", "dev2"]) == 2
    assert "source 'va': file not found" in capsys.readouterr().err
    assert not (state_dir / "runs" / "heart_disease" / "dev2" / "extract").exists()
    assert cli(["run-step", "harmonize", str(spec), "--run-id", "dev2"]) == 2
    assert "run the 'extract' step of this run first" in capsys.readouterr().err


def test_show_run_without_runs(project, state_dir, capsys):
    assert cli(["show-run", str(project / "releases" / "adult_income.yaml")]) == 2
    assert "no runs of 'adult_income'" in capsys.readouterr().err
