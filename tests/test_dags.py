from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline_runs import pin_spec

ROOT = Path(__file__).resolve().parent.parent
DAGS = ROOT / "dags"
CANARY = "Quillfeather-Canary-5521"


def dagbag(releases: Path | None = None, monkeypatch=None):
    from airflow.dag_processing.dagbag import DagBag

    if releases is not None:
        monkeypatch.setenv("SYNTH_PIPELINE_RELEASES", str(releases))
    return DagBag(dag_folder=str(DAGS))


def test_dag_folder_imports_without_errors_one_dag_per_spec():
    bag = dagbag()
    assert bag.import_errors == {}
    specs = sorted(p.stem for p in (ROOT / "releases").glob("*.yaml"))
    assert specs and set(specs) <= set(bag.dags)
    for name in specs:
        dag = bag.dags[name]
        assert dag.max_active_runs == 1 and dag.catchup is False
        assert "synthetic-release" in dag.tags
        assert [t.task_id for t in dag.topological_sort()][:4] == ["extract", "harmonize", "quality_gate", "pii_scan"]
        if dag.dag_id != "synthea_patients":  # no generator yet: it stops after the PII scan
            assert {"train", "validate", "reidentify", "report", "approve", "publish"} <= set(dag.task_ids)


def test_parsing_is_cheap_and_pulls_in_no_heavy_libraries():
    # The dag-processor has Airflow loaded already; what this file adds is what counts.
    probe = (
        "import time, sys, runpy\n"
        "import airflow.sdk\n"
        "from airflow.sdk import dag, task, get_current_context\n"
        "t = time.perf_counter()\n"
        f"runpy.run_path({str(DAGS / 'synthetic_releases.py')!r})\n"
        "elapsed = time.perf_counter() - t\n"
        "heavy = sorted(m for m in ('torch', 'pandas', 'great_expectations', 'presidio_analyzer', 'opacus', 'sklearn') if m in sys.modules)\n"
        "print(elapsed, ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    elapsed, heavy = float(out[0]), (out[1] if len(out) > 1 else "")
    assert heavy == "", f"DAG file imported {heavy}"
    assert elapsed < 2.0, f"parsing took {elapsed:.2f}s"


def test_a_broken_spec_does_not_take_the_other_dags_down(project, monkeypatch):
    broken = project / "releases" / "broken_one.yaml"
    broken.write_text("name: broken_one\ncolour: blue\n")
    bag = dagbag(project / "releases", monkeypatch)
    assert bag.import_errors == {}
    assert "broken_one" not in bag.dags and {"adult_income", "heart_disease"} <= set(bag.dags)


BROKEN_SPECS = {  # one file of each kind that once took every release DAG down, or hung the DAG file's import
    "latin1_byte": lambda good: good.replace("Synthetic", "Synth\xe9tic", 1).encode("latin-1"),
    "deep_nesting": lambda good: (good + "extra: " + "[" * 100_000 + "]" * 100_000 + "\n").encode(),
    "alias_bomb": lambda good: ("".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}' if i else 'lol'] * 10)}]\n"
                                        for i in range(9))
                                + good.replace("description:", "description: *l8\nx_description:", 1)).encode(),
    "invalid_value": lambda good: good.replace("epsilon: 2.0", "epsilon: .inf").encode(),
}


def test_broken_specs_get_no_dag_and_the_others_still_load(project, monkeypatch, caplog):
    good = (project / "releases" / "heart_disease.yaml").read_text()
    for name, make in BROKEN_SPECS.items():
        (project / "releases" / f"{name}.yaml").write_bytes(make(good).replace(b"heart_disease", name.encode()))
    started = time.perf_counter()
    with caplog.at_level(logging.ERROR):
        bag = dagbag(project / "releases", monkeypatch)
    assert time.perf_counter() - started < 30  # the dag-processor's import timeout, for every spec at once
    assert bag.import_errors == {}
    assert {"adult_income", "heart_disease", "synthea_patients"} <= set(bag.dags)
    assert not set(BROKEN_SPECS) & set(bag.dags)
    for name in BROKEN_SPECS:
        assert f"release spec {name}.yaml skipped" in caplog.text


def test_schedule_comes_from_the_spec(project, monkeypatch):
    spec = project / "releases" / "heart_disease.yaml"
    spec.write_text(spec.read_text().replace("schedule: null", 'schedule: "@weekly"'))
    bag = dagbag(project / "releases", monkeypatch)
    assert bag.dags["heart_disease"].schedule == "@weekly"
    assert type(bag.dags["heart_disease"].timetable).__name__ == "CronTriggerTimetable"
    assert bag.dags["adult_income"].schedule is None


def _xcoms(dag_id: str, run_id: str) -> list:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter(XComModel.dag_id == dag_id, XComModel.run_id == run_id).all()
        return [(row.task_id, row.value) for row in rows]


RELEASE_STEPS = {"extract", "harmonize", "quality_gate", "pii_scan", "split", "charge_budget", "train", "settle_budget",
                 "sample", "validate", "reidentify", "report"}


@pytest.mark.slow
def test_whole_dag_run_through_dag_test(airflow_db, project, state_dir, monkeypatch):
    spec = project / "releases" / "heart_disease.yaml"
    pin_spec(spec, approval=False)  # the release DAG then ends with the steward's report
    bag = dagbag(project / "releases", monkeypatch)
    dag_run = bag.dags["heart_disease"].test()
    assert dag_run.state == "success"
    run_dir = next((state_dir / "runs" / "heart_disease").iterdir())
    # no temporary partition left behind; the release decision drawn once for this fit sits beside the steps
    assert {p.name for p in run_dir.iterdir()} == RELEASE_STEPS | {"release_decision.json"}
    assert json.loads((run_dir / "harmonize" / "report.json").read_text())["rows_out"] == 918
    assert json.loads((run_dir / "quality_gate" / "report.json").read_text())["passed"] is True
    assert (run_dir / "report" / "report.html").is_file() and (run_dir / "report" / "data_card.json").is_file()
    xcoms = _xcoms("heart_disease", dag_run.run_id)
    assert {task for task, _ in xcoms} == RELEASE_STEPS
    assert all(len(json.dumps(value, default=str)) < 1000 for _, value in xcoms)  # metadata, not data


@pytest.mark.slow
def test_failing_run_stops_with_nothing_half_done_and_no_raw_value_in_logs(airflow_db, project, state_dir, monkeypatch, capfd):
    data = project / "data" / "adult_income" / "adult.data"
    lines = data.read_text().splitlines(keepends=True)
    lines[5] = lines[5].replace(lines[5].split(",")[0], CANARY, 1)  # an age that is no number
    data.write_text("".join(lines))
    bag = dagbag(project / "releases", monkeypatch)
    dag_run = bag.dags["adult_income"].test()
    assert dag_run.state == "failed"
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states["extract"] == "success" and states["harmonize"] == "failed"
    assert states["quality_gate"] in ("upstream_failed", None)
    run_dir = next((state_dir / "runs" / "adult_income").iterdir())
    # No harmonize partition, not even a temporary one. The steps that run whatever happened did run: nothing was
    # charged to settle, and the steward's report says the run failed.
    assert {p.name for p in run_dir.iterdir()} == {"extract", "settle_budget", "report"}
    assert states["settle_budget"] == "success" and states["report"] == "failed"
    assert json.loads((run_dir / "settle_budget" / "report.json").read_text())["action"] == "no_entry"
    assert states["approve"] in ("upstream_failed", None) and states["publish"] in ("upstream_failed", None)
    assert CANARY not in (run_dir / "report" / "report.html").read_text()
    output = capfd.readouterr()
    assert "column 'age': some values cannot be read as a number" in output.out + output.err
    assert CANARY not in output.out + output.err
    assert CANARY not in json.dumps(_xcoms("adult_income", dag_run.run_id), default=str)
