"""Invariant 1: no raw value leaves the run folder. Canaries planted in a source travel through the pipeline (they
sit in the PII-handled table and the training split) and must appear in no log, no XCom, no report meant for
anyone but the steward's eyes on figures, and nothing published."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from airflow_local import answer_in_background  # noqa: E402
from publishable import publishable  # noqa: E402
from testsupport import TEST_USERS  # noqa: E402

pytestmark = pytest.mark.slow
CANARY = "QFC7731"  # no entity type, so redaction leaves it: it reaches the training split


def _plant(project: Path) -> None:
    spec_path = project / "releases" / "heart_disease.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    cleveland = project / spec["sources"]["cleveland"]["path"]
    lines = [line for line in cleveland.read_text().splitlines() if line]
    cleveland.write_text("".join(f"{line},{CANARY}-{i:04d} follow-up\n" for i, line in enumerate(lines)))
    options = spec["sources"]["cleveland"]["options"]
    spec["sources"]["cleveland"]["options"] = {**options, "names": [*options["names"], "note"]}
    spec["schema"]["note"] = {"type": "string", "nullable": True}
    spec["pii"]["columns"]["note"] = {"class": "free_text", "action": "redact"}
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    publishable(spec_path)  # unseeded: a seeded run is never published
    suite_path = project / spec["quality"]["suite"]
    suite = json.loads(suite_path.read_text())
    for expectation in suite["expectations"]:
        if expectation["type"] == "expect_table_columns_to_match_ordered_list":
            expectation["kwargs"]["column_list"].append("note")
    suite_path.write_text(json.dumps(suite))


def _xcom_text(dag_id: str, run_id: str) -> str:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter(XComModel.dag_id == dag_id, XComModel.run_id == run_id).all()
        return json.dumps([(row.task_id, row.value) for row in rows], default=str)


def _tree_bytes(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file())


def test_planted_canaries_reach_no_log_xcom_data_card_manifest_or_release(airflow_db, project, state_dir, monkeypatch,
                                                                          capfd):
    from airflow.dag_processing.dagbag import DagBag

    _plant(project)
    monkeypatch.setenv("SYNTH_PIPELINE_RELEASES", str(project / "releases"))
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    answer = answer_in_background(approve=True, comment="canary run", password=TEST_USERS["steward"])
    dag_run = bag.dags["heart_disease"].test()
    assert answer.get("decision") == "Approve" and dag_run.state == "success"

    run_dir = next((state_dir / "runs" / "heart_disease").iterdir())
    # The canaries did travel: they are in the PII-handled table and the training split (inside the run folder).
    assert pd.read_parquet(run_dir / "split" / "train.parquet")["note"].str.contains(CANARY).any()
    published = project / "published" / "heart_disease"
    captured = capfd.readouterr()
    outputs = {
        "logs": (captured.out + captured.err).encode(),
        "airflow task logs": _tree_bytes(Path(os.environ["AIRFLOW_HOME"]) / "logs")
        if (Path(os.environ["AIRFLOW_HOME"]) / "logs").is_dir() else b"",
        "xcom": _xcom_text("heart_disease", dag_run.run_id).encode(),
        "published release (data, data card, manifest)": _tree_bytes(published),
        "data card": _tree_bytes(run_dir / "report"),
        "every step's report.json": b"".join(p.read_bytes() for p in run_dir.glob("*/report.json")),
    }
    assert (published / "latest.json").is_file()
    for where, content in outputs.items():
        assert CANARY.encode() not in content, f"a canary leaked into the {where}"
