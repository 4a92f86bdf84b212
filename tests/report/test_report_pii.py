"""The steward's PII table: per column the class the spec declares and the action the scan step took (issue 14,
item 6: it said `keep` for every column, dropped e-mail and password included, because it looked actions up by
column name while the scan report stores them by action)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from synth_pipeline.report.internal import actions_by_column, build_internal_report
from synth_pipeline.sources import RunContext
from synth_pipeline.spec import load_spec
from synth_pipeline.steps import run_extract, run_harmonize, run_pii_scan, run_quality_gate

from testsupport import copy_project

HEART_FILES = ("processed.cleveland.data", "processed.hungarian.data", "processed.switzerland.data",
               "processed.va.data")
# Planted columns, declared in pii.columns: (class, action, a value for row i).
PLANTED = {
    "email": ("direct_identifier", "drop", lambda i, rng: f"patient{i}.{rng.integers(1000, 9999)}@example.org"),
    "password": ("secret", "drop", lambda i, rng: "".join(rng.choice(list("abcdefghkmnpqrstuvwxyz23456789#%&"), 12))),
}


def plant_pii_columns(project: Path, planted: dict = PLANTED) -> None:
    """heart_disease with more string columns, in the sources, the schema, the GX suite and pii.columns."""
    spec = project / "releases" / "heart_disease.yaml"
    document = yaml.safe_load(spec.read_text())
    for source in document["sources"].values():
        source["options"] = {**source["options"], "names": [*source["options"]["names"], *planted]}
    for name, (pii_class, action, _) in planted.items():
        document["schema"][name] = {"type": "string", "nullable": True}
        document["pii"]["columns"][name] = {"class": pii_class, "action": action}
    spec.write_text(yaml.safe_dump(document, sort_keys=False))
    suite = project / "expectations" / "heart_disease.json"
    expectations = json.loads(suite.read_text())
    for expectation in expectations["expectations"]:
        if expectation["type"] == "expect_table_columns_to_match_ordered_list":
            expectation["kwargs"]["column_list"].extend(planted)
    suite.write_text(json.dumps(expectations))
    rng, row = np.random.default_rng(3), 0
    for name in HEART_FILES:
        path = project / "data" / "heart_disease" / name
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        for index, line in enumerate(lines):
            lines[index] = ",".join([line, *(make(row + index, rng) for _, _, make in planted.values())])
        row += len(lines)
        path.write_text("\n".join(lines) + "\n")


def pii_rows(page: str) -> dict[str, list[str]]:
    """The PII section's first table, as {column: [cells after the name]}."""
    section = page.split("<h2>PII handling</h2>", 1)[1].split("</table>", 1)[0]
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", section)]
    return {cells[0]: cells[1:] for cells in rows if cells}


def _page(scan_report: dict, declared: dict[str, str]) -> str:
    return build_internal_report(release="r", run_id="t1", reports={"pii_scan": scan_report}, distributions={},
                                 standing={}, pii_classes=declared)


ACTION_CASES = [
    # (the scan report's actions, by action; the same turned round, by column)
    ({"dropped": ["email", "password"], "pseudonymized": [], "generalized": {}, "redacted": {}, "kept": ["age"]},
     {"email": "drop", "password": "drop", "age": "keep"}),
    ({"dropped": [], "pseudonymized": ["id"], "generalized": {"zip": {"rule": {"to": "prefix"}, "nulled": 0}},
      "redacted": {"note": {"cells_changed": 1}}, "kept": []},
     {"id": "pseudonymize", "zip": "generalize", "note": "redact"}),
    ({}, {}),  # a run the scan stopped has no actions
]


@pytest.mark.parametrize("actions,expected", ACTION_CASES, ids=["drop-and-keep", "the-other-actions", "none"])
def test_actions_are_looked_up_by_column(actions, expected):
    assert actions_by_column(actions) == expected


def _scan(columns: dict[str, str | None], **extra) -> dict:
    return {"columns": [{"name": name, "class": found, "entities": {}} for name, found in columns.items()], **extra}


TABLE_CASES = [
    # (scan report, declared classes, expected rows: column -> [declared class, class found, entities, action])
    (_scan({"email": "direct_identifier", "age": "quasi_identifier"},
           actions={"dropped": ["email"], "kept": ["age"]}),
     {"email": "direct_identifier", "age": "quasi_identifier"},
     {"email": ["direct_identifier", "direct_identifier", "-", "drop"],
      "age": ["quasi_identifier", "quasi_identifier", "-", "keep"]}),
    (_scan({"chol": "none"}, actions={"kept": ["chol"]}), {},
     {"chol": ["not declared", "none", "-", "keep"]}),
    # Stopped by undeclared PII: nothing was done to any column, and the table must not say keep.
    (_scan({"note": "direct_identifier", "age": None}, violations=[{"column": "note", "reason": "US_SSN"}]),
     {"age": "quasi_identifier"},
     {"note": ["not declared", "direct_identifier", "-", "none: the scan stopped the run"],
      "age": ["quasi_identifier", "unscannable", "-", "none: the scan stopped the run"]}),
]


@pytest.mark.parametrize("report,declared,expected", TABLE_CASES, ids=["dropped", "undeclared-kept", "stopped"])
def test_the_pii_table_shows_the_declared_class_and_the_action_taken(report, declared, expected):
    page = _page(report, declared)
    assert pii_rows(page) == expected
    assert ("undeclared PII in" in page) == bool(report.get("violations"))


@pytest.mark.slow
def test_a_run_that_drops_email_and_password_says_drop_for_them(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTH_PIPELINE_STATE", str(tmp_path / "state"))
    project = copy_project(tmp_path)
    plant_pii_columns(project)
    spec, run_dir = project / "releases" / "heart_disease.yaml", tmp_path / "run"
    run_extract(spec, run_dir, context=RunContext("t1"))
    run_harmonize(spec, run_dir)
    assert run_quality_gate(spec, run_dir)["passed"]
    assert "email" not in run_pii_scan(spec, run_dir)["released_columns"]
    report = json.loads((run_dir / "pii_scan" / "report.json").read_text())
    declared = {name: rule.class_ for name, rule in load_spec(spec).spec.pii.columns.items()}
    rows = pii_rows(_page(report, declared))
    assert rows["email"][0] == "direct_identifier" and rows["email"][-1] == "drop"
    assert rows["password"][0] == "secret" and rows["password"][-1] == "drop"
    assert "EMAIL_ADDRESS" in rows["email"][2]  # the scan found what the spec declared
    assert {rows[name][-1] for name in ("age", "sex", "source_hospital", "chol")} == {"keep"}
