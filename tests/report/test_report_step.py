"""The report step: the steward's internal report and the public data card, on a real (small) run."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from synth_pipeline.report import html, svg
from synth_pipeline.report.data_card import column_statistics
from synth_pipeline.spec import CategoricalColumn, NumericColumn
from synth_pipeline.steps import run_reidentify, run_validate
from synth_pipeline.steps.generate import run_sample, run_train
from synth_pipeline.steps.report import run_report
from synth_pipeline.errors import GatesFailed

from pipeline_runs import pin_spec, prepared
from testsupport import copy_project

pytestmark = pytest.mark.slow
CANARY = 187  # a cholesterol level planted in every source row: the real value the card must never show


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One run brought to the report step, shared by this module's tests (training it is the slow part)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        root = tmp_path_factory.mktemp("report")
        monkeypatch.setenv("SYNTH_PIPELINE_STATE", str(root / "state"))
        yield _finish(copy_project(root), root / "state")


def _finish(project, state_dir):
    data = project / "data" / "heart_disease"
    for source in data.glob("processed.*.data"):
        lines = source.read_text().splitlines()
        source.write_text("\n".join(",".join(f"{CANARY}" if i == 4 else v for i, v in enumerate(line.split(",")))
                                    for line in lines if line) + "\n")
    spec = project / "releases" / "heart_disease.yaml"
    pin_spec(spec, seed=1)  # a seed whose run passes every gate
    run_dir = prepared(spec, state_dir, "rep1")
    run_train(spec, run_dir, run_id="rep1", seed=1)
    run_sample(spec, run_dir, seed=1)
    run_validate(spec, run_dir)
    run_reidentify(spec, run_dir)
    return spec, run_dir


def test_report_and_data_card_are_written_and_self_contained(finished_run):
    spec, run_dir = finished_run
    result = run_report(spec, run_dir, run_id="rep1")
    assert result["gates_passed"] is True
    internal = (run_dir / "report" / "report.html").read_text()
    card_html = (run_dir / "report" / "data_card.html").read_text()
    for page in (internal, card_html):
        assert page.startswith("<!DOCTYPE html>") and "<script" not in page
        assert not re.search(r"(src|href)=\"(https?:)?//", page), "no external resources: the machines may be offline"
    assert "<svg" in internal and "Re-identification risk" in internal and "Privacy budget" in internal
    card = json.loads((run_dir / "report" / "data_card.json").read_text())
    assert card["rows"] == len(pd.read_parquet(run_dir / "sample" / "synthetic.parquet"))
    assert card["privacy"]["epsilon"] == 2.0 and card["generator"]["name"] == "aim"
    # What the accountant says was spent, on which mechanisms (the review's finding 13): not only the allowance.
    train = json.loads((run_dir / "train" / "report.json").read_text())
    # The generator's account plus the DP release decision's share (basic composition), within the run's 2.0.
    decision = card["privacy"]["release_decision"]
    assert decision["epsilon"] == 0.1 and decision["passed"] is True and decision["delta"] == 0.0
    assert card["privacy"]["epsilon_spent"] == pytest.approx(train["privacy"]["generator"]["epsilon"] + 0.1)
    assert card["privacy"]["epsilon_spent"] <= 2.0 + 1e-9
    assert {m["mechanism"] for m in card["privacy"]["mechanisms"]} == {"gaussian", "exponential"}
    assert "epsilon spent" in card_html
    assert "single quote" in card["files"]["synthetic.csv"] and "synthetic.csv" in card_html  # how CSV is escaped
    assert set(card["gates"]) == {"quality_gate", "pii_scan", "validate", "reidentify"}
    assert result["data_card"].endswith("data_card.html")
    # Issue 14: the steward's PII table and risk chart, the card's guarantee, limitations and loading snippet.
    assert "declared class" in internal and "action taken" in internal and "against its own gate" in internal
    assert card["version"] is None and "does not promise" in card["guarantee"]
    assert card["limitations"]["not_fit_for"] and card["limitations"]["known_weaknesses"]
    assert "catalog.load(release='heart_disease', version='latest'" in card["how_to_load"]
    assert "Limitations" in card_html and "How to load it" in card_html


def test_the_data_card_holds_no_figure_computed_from_real_data(finished_run):
    spec, run_dir = finished_run
    run_report(spec, run_dir, run_id="rep1")
    card = json.loads((run_dir / "report" / "data_card.json").read_text())
    synthetic = pd.read_parquet(run_dir / "sample" / "synthetic.parquet")
    # Every statistic on the card is the synthetic table's own.
    for name, info in card["columns"].items():
        assert info["statistics"] == column_statistics(synthetic[name], _schema(spec)[name])
    # chol is CANARY in every real row, so a real statistic would be exactly 187; the synthetic one is not.
    assert card["columns"]["chol"]["statistics"]["mean"] != CANARY
    assert "real" not in json.dumps(card["columns"])


def _schema(spec):
    from synth_pipeline.release_schema import modelled_columns
    from synth_pipeline.spec import load_spec

    return modelled_columns(load_spec(spec).spec)[0]


def test_a_failed_gate_fails_the_report_step_after_it_wrote_the_report(finished_run):
    spec, run_dir = finished_run
    path = run_dir / "reidentify" / "report.json"
    passed = path.read_text()
    path.write_text(json.dumps({**json.loads(passed), "passed": False}))
    try:
        with pytest.raises(GatesFailed, match="gates failed: reidentify"):
            run_report(spec, run_dir, run_id="rep1")
        assert "This run must not be published" in (run_dir / "report" / "report.html").read_text()
    finally:  # the run is shared with the other tests of this module
        path.write_text(passed)


@pytest.mark.parametrize("column,series,expected", [
    (NumericColumn(type="integer", min=0, max=10), pd.Series([1, 2, None, 4], dtype="Int64"),
     {"null_share": 0.25, "mean": 2.3333}),
    (CategoricalColumn(type="categorical", categories=("a", "b")), pd.Series(["a", "a", "b", None]),
     {"null_share": 0.25, "shares": {"a": 0.6667, "b": 0.3333}}),
])
def test_column_statistics(column, series, expected):
    stats = column_statistics(series, column)
    assert {k: stats[k] for k in expected} == expected


def test_charts_and_pages_escape_what_they_show():
    chart = svg.grouped_bars(["<b>x</b>"], {"real": [0.5]}, title="a&b")
    assert "<b>" not in chart and "&lt;b&gt;" in chart and "a&amp;b" in chart
    page = html.page("t<", "s", [html.table(["h"], [["<i>"]])])
    assert "<i>" not in page and "&lt;i&gt;" in page
