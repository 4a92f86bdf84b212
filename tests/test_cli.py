from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from synth_pipeline.cli import main as cli
from synth_pipeline.privacy.ledger import ledger_for
from synth_pipeline.spec import load_spec
from synth_pipeline.steps import mark_charge_spent, run_charge_budget, run_settle_budget
from testsupport import copy_project


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


def test_an_invalid_spec_exits_1_from_any_command(project, state_dir, capsys):
    spec = project / "releases" / "heart_disease.yaml"
    spec.write_text(spec.read_text().replace("epsilon: 2.0", "epsilon: .inf"))
    assert cli(["run-step", "extract", str(spec), "--run-id", "dev3"]) == 1
    assert capsys.readouterr().err.strip() == f"{spec}: privacy.epsilon: input should be a finite number, got inf"


CANARY = "Quillfeather-Canary-5521"


@pytest.mark.parametrize("debug", [None, "1"], ids=["default", "debug"])
def test_an_unexpected_crash_exits_3_with_its_type_only(project, state_dir, capsys, monkeypatch, debug):
    """The README's code 3. The message names the exception's type, never its text: that may quote a data value."""
    from synth_pipeline import steps

    def crash(*_args, **_kwargs):
        raise KeyError(CANARY)

    monkeypatch.setattr(steps, "run_extract", crash)
    if debug:
        monkeypatch.setenv("SYNTH_PIPELINE_DEBUG", debug)
    else:
        monkeypatch.delenv("SYNTH_PIPELINE_DEBUG", raising=False)
    spec = project / "releases" / "heart_disease.yaml"
    assert cli(["run-step", "extract", str(spec), "--run-id", "dev4"]) == 3
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("internal error: KeyError (a bug in synth_pipeline; rerun with "
                                           "SYNTH_PIPELINE_DEBUG=1")
    if debug:
        assert "Traceback (most recent call last)" in err and CANARY in err
    else:
        assert len(err.splitlines()) == 1 and CANARY not in err and "Traceback" not in err


def test_the_help_states_every_exit_code(capsys):
    with pytest.raises(SystemExit) as exited:
        cli(["--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "2 a pipeline error (typed, explained on stderr), 3 an unexpected crash." in text


def test_show_run_without_runs(project, state_dir, capsys):
    assert cli(["show-run", str(project / "releases" / "adult_income.yaml")]) == 2
    assert "no runs of 'adult_income'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def split_template(tmp_path_factory) -> Path:
    """A project and state folder holding heart_disease run 'dev1' taken through `split` (built once per module)."""
    root = tmp_path_factory.mktemp("split_template")
    spec = copy_project(root) / "releases" / "heart_disease.yaml"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SYNTH_PIPELINE_STATE", str(root / "state"))
        for step in ("extract", "harmonize", "quality_gate", "pii_scan", "split"):
            assert cli(["run-step", step, str(spec), "--run-id", "dev1"]) == 0
    return root


@pytest.fixture
def split_run(split_template, tmp_path, monkeypatch) -> Path:
    """A copy of the template, no ledger yet; returns the spec path."""
    copy = shutil.copytree(split_template, tmp_path / "copy")
    monkeypatch.setenv("SYNTH_PIPELINE_STATE", str(copy / "state"))
    return copy / "project" / "releases" / "heart_disease.yaml"


def charges(spec: Path) -> list[tuple[int, str]]:
    loaded = load_spec(spec)
    with ledger_for(loaded) as ledger:
        [standing] = ledger.summary(loaded.spec.dataset)
    return [(entry.attempt, entry.status) for entry in standing.entries]


def change_spec(spec: Path, changes: dict) -> None:
    document = yaml.safe_load(spec.read_text())
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = document
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    spec.write_text(yaml.safe_dump(document, sort_keys=False))


def prepare(spec: Path, actions: list[str]) -> None:
    """Ledger states a run can be in: reserved by charge_budget, a fit begun (what train does before it reads the
    data), settled."""
    run_dir = spec.parents[2] / "state" / "runs" / "heart_disease" / "dev1"
    for action in actions:
        if action == "reserve":
            run_charge_budget(spec, run_dir, run_id="dev1")
        elif action == "fit":
            mark_charge_spent(load_spec(spec), run_id="dev1")
        else:
            run_settle_budget(spec, run_dir, run_id="dev1")


# (spec changes, ledger state before, step, exit code, what stderr says, the plan printed on stdout). Heart disease:
# epsilon 2 a run, lifetime 6.
DRY_RUNS = [
    ("charge_budget, a fresh run", {}, [], "charge_budget", 0,
     "dry run, nothing was charged: charge_budget reserves", {"attempt": 1, "charges": True, "epsilon": 2.0}),
    ("charge_budget retried", {}, ["reserve"], "charge_budget", 0, "already holds a reserved charge",
     {"attempt": 1, "charges": False}),
    ("train, the first fit", {}, ["reserve"], "train", 0, "mark the run's reservation",
     {"attempt": 1, "charges": True, "dataset": "heart_disease", "delta": 1e-5}),
    ("train again: a new charge", {}, ["reserve", "fit"], "train", 0, "charge fit attempt 2 as a new spent entry",
     {"attempt": 2, "charges": True, "epsilon": 2.0}),
    ("train before charge_budget", {}, [], "train", 2, "has no reservation: run charge_budget first", None),
    ("train past the lifetime", {}, ["reserve", "fit", "fit", "fit"], "train", 2,
     "fit attempt 4 (the run already fitted 3 times", None),
    ("train after settle released the reservation", {}, ["reserve", "settle"], "train", 2, "was released", None),
    ("charge_budget from another dataset", {"privacy.dataset": "adult_income"}, [], "charge_budget", 2,
     "does not bind sources 'cleveland' (data/heart_disease/processed.cleveland.data)", None),
    ("a pre-flight refusal on public facts", {"privacy.delta": 0.01}, [], "train", 2,
     "privacy.delta = 0.01 must be below 1/n", None),
    ("a step that charges nothing", {}, [], "extract", 2, "--dry-run is for the steps that charge", None),
]


@pytest.mark.parametrize("_name, changes, before, step, code, says, plan", DRY_RUNS, ids=[d[0] for d in DRY_RUNS])
def test_dry_run_refuses_or_says_what_it_would_charge_and_charges_nothing(split_run, capsys, _name, changes, before,
                                                                          step, code, says, plan):
    change_spec(split_run, changes)
    prepare(split_run, before)
    ledger_before = charges(split_run)
    partitions = sorted(path.name for path in split_run.parents[2].glob("state/runs/heart_disease/dev1/*"))
    capsys.readouterr()
    assert cli(["run-step", step, str(split_run), "--run-id", "dev1", "--dry-run"]) == code
    out, err = capsys.readouterr()
    assert says in err
    if plan is not None:
        printed = json.loads(out)
        assert printed["dry_run"] is True and printed["step"] == step
        assert {key: printed[key] for key in plan} == plan
    assert charges(split_run) == ledger_before
    assert sorted(path.name for path in split_run.parents[2].glob("state/runs/heart_disease/dev1/*")) == partitions


@pytest.mark.slow  # real training / a full attack: seconds each, kept out of test-fast
def test_charging_steps_say_what_they_charge_before_they_charge(split_run, capsys):
    assert cli(["run-step", "charge_budget", str(split_run), "--run-id", "dev1"]) == 0
    assert "charge_budget reserves privacy budget in the ledger" in capsys.readouterr().err
    for attempt in (1, 2):  # run-step train twice: a re-run outside Airflow is a second fit and a second charge
        assert cli(["run-step", "train", str(split_run), "--run-id", "dev1"]) == 0
        out, err = capsys.readouterr()
        assert err.startswith("train spends real privacy budget")
        assert ("dataset 'heart_disease', epsilon 2, delta 1e-05; release heart_disease, run dev1, "
                f"attempt {attempt}") in err
        assert json.loads(out)["ledger_entry_id"] == attempt
    assert charges(split_run) == [(1, "spent"), (2, "spent")]
    assert cli(["budget", "heart_disease", "--project", str(split_run.parents[1])]) == 0
    assert capsys.readouterr().out.splitlines()[2].split() == ["epsilon", "6", "4", "0", "2"]
