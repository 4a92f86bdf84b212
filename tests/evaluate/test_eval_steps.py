"""The validate and reidentify steps on a run folder: known verdicts, fail closed after writing the report, and no
raw values in what they write."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from synth_pipeline.errors import GatesFailed, UtilityTooLow, ValidationFailed
from synth_pipeline.steps import run_reidentify, run_validate


def _report(run_dir, step):
    return json.loads((run_dir / step / "report.json").read_text())


def _verdicts(report):
    return {verdict["name"]: verdict["passed"] for verdict in report["gates"]}


@pytest.mark.slow  # every check on a generated table: seconds
def test_a_fresh_draw_passes_every_gate(eval_project, real_tables, make_run, draw):
    train, holdout = real_tables
    run_dir = make_run(draw["population"](1600, np.random.default_rng(99)), train, holdout)
    validated = run_validate(eval_project, run_dir)
    reidentified = run_reidentify(eval_project, run_dir)
    assert validated["passed"] and reidentified["passed"]
    # XCom: the verdict and the DP decision's public parameters, no figure.
    assert set(validated) == {"uri", "passed", "release_decision"} and set(reidentified) == {"uri", "passed"}
    assert validated["release_decision"]["passed"] and validated["release_decision"]["epsilon"] == 0.05
    assert [g["name"] for g in validated["release_decision"]["gates"]] == ["tvd_1way", "tvd_2way"]
    assert validated["release_decision"]["gates"][0]["sensitivity"] == 1 / 1600  # max_rows / the declared floor
    assert _report(run_dir, "validate")["advisory_failed"] == []
    report = _report(run_dir, "reidentify")
    assert report["advisory_failed"] == []
    assert 0.35 < report["distance"]["dcr_share"]["share_at_equal_sizes"] < 0.65
    assert abs(report["membership"]["advantage"]) < 0.1
    # The shape of the released suite: the input table's row count and column list are skipped, not failed.
    skipped = _report(run_dir, "validate")["validation"]["skipped_expectations"]
    assert {entry["expectation"] for entry in skipped} == {"expect_table_row_count_to_be_between",
                                                           "expect_table_columns_to_match_ordered_list"}


@pytest.mark.slow  # every risk check on a copied table: about 7 s
def test_a_copy_of_the_training_table_fails_distance_and_membership(eval_project, real_tables, make_run):
    """The risk figures are unnoised: they advise the steward (the internal report leads with them) and never stop
    the run on their own, which would be an unaccounted release of a bit about the training table."""
    train, holdout = real_tables
    run_dir = make_run(train, train, holdout)
    result = run_reidentify(eval_project, run_dir)
    assert result == {"uri": str(run_dir / "reidentify" / "report.json"), "passed": True}
    report = _report(run_dir, "reidentify")
    verdicts = _verdicts(report)
    for gate in ("dcr_share_at_equal_sizes", "exact_match_excess", "membership_advantage"):
        assert verdicts[gate] is False, gate
        assert gate in report["advisory_failed"]
    assert report["distance"]["dcr_share"]["share_at_equal_sizes"] > 0.95
    assert report["membership"]["advantage"] > 0.5


@pytest.mark.slow  # every check on a generated table: seconds
def test_independent_noise_passes_risk_and_fails_utility(eval_project, real_tables, make_run, draw, eval_schema):
    train, holdout = real_tables
    run_dir = make_run(draw["uniform"](eval_schema, 1600, np.random.default_rng(5)), train, holdout)
    result = run_reidentify(eval_project, run_dir)
    assert result["passed"]
    verdicts = _verdicts(_report(run_dir, "reidentify"))
    assert verdicts["dcr_share_at_equal_sizes"] and verdicts["membership_advantage"]
    with pytest.raises(UtilityTooLow, match=r"release decision \(a noisy threshold test at epsilon 0.05 on tvd_1way, "
                                             r"tvd_2way\)") as raised:
        run_validate(eval_project, run_dir)
    assert re.findall(r"\d+\.\d+", str(raised.value).split("/")[0]) == ["0.05"]  # epsilon, and no figure
    report = _report(run_dir, "validate")
    assert report["verdicts"] == {"validation": True, "release_decision": False}
    utility = report["utility"]
    assert utility["tstr"]["ratio"] < 0.8
    assert utility["marginals"]["1"]["mean"] > 0.2


@pytest.mark.slow  # the validate step with its GX suite: about 4 s
def test_an_invalid_table_fails_with_rules_and_counts_and_writes_its_report(eval_project, real_tables, make_run, draw):
    train, holdout = real_tables
    synthetic = draw["population"](1600, np.random.default_rng(3))
    synthetic["age"] = synthetic["age"].astype("Int64")
    synthetic.loc[:6, "age"] = 123  # outside [18, 90]: seven rows
    synthetic.loc[:2, "hours"] = pd.NA  # not nullable: three rows
    run_dir = make_run(synthetic, train, holdout)
    with pytest.raises(ValidationFailed) as raised:
        run_validate(eval_project, run_dir)
    message = str(raised.value)
    assert "age within [18, 90]: 7 of 1600 rows" in message
    assert "hours not null: 3 of 1600 rows" in message
    assert "123" not in message  # the rule and the count, never the value
    report = _report(run_dir, "validate")
    assert report["passed"] is False and report["verdicts"]["validation"] is False


def test_a_table_without_a_released_column_cannot_be_checked_for_risk(eval_project, real_tables, make_run, draw):
    train, holdout = real_tables
    run_dir = make_run(draw["population"](400, np.random.default_rng(4)).drop(columns=["job"]), train, holdout)
    with pytest.raises(ValidationFailed, match=r"lacks released column\(s\) job"):
        run_reidentify(eval_project, run_dir)
    assert _report(run_dir, "reidentify")["missing_columns"] == ["job"]


@pytest.mark.slow  # every check on a generated table: seconds
def test_no_raw_value_reaches_the_reports(eval_project, real_tables, make_run, draw):
    """Canaries planted in the real tables: an undeclared label, a unique income and a unique age in one row, that
    row alone in its query group. None of them may appear in anything the steps write or raise."""
    train, holdout = (table.copy() for table in real_tables)
    label = "CANARY-LABEL-5c1e9a"
    for table in (train, holdout):
        table["job"] = table["job"].cat.add_categories([label])
        table.loc[0, "job"] = label
        table.loc[0, "income"] = 123457.89
    train.loc[0, "hours"] = 97  # the only row in its bin of hours_by_job's group
    run_dir = make_run(draw["population"](1600, np.random.default_rng(8)), train, holdout)
    messages = []
    for step in (run_validate, run_reidentify):
        try:
            messages.append(json.dumps(step(eval_project, run_dir)))
        except (ValidationFailed, UtilityTooLow, GatesFailed) as exc:
            messages.append(str(exc))
    written = [path.read_text() for path in run_dir.glob("*/*.json") if path.parent.name in ("validate", "reidentify")]
    assert len(written) >= 3  # both reports and the distributions
    for text in [*written, *messages]:
        for canary in (label, "123457.89", "123457"):
            assert canary not in text


def test_a_check_that_raises_fails_the_step_without_its_message(eval_project, real_tables, make_run, draw, monkeypatch):
    from synth_pipeline.evaluate import association

    def broken(*args, **kwargs):
        raise ValueError("could not convert 'SECRET-VALUE-424242'")

    monkeypatch.setattr(association, "association_difference", broken)
    train, holdout = real_tables
    run_dir = make_run(draw["population"](1600, np.random.default_rng(12)), train, holdout)
    with pytest.raises(GatesFailed, match=r"check association raised ValueError at test_eval_steps.py:\d+") as raised:
        run_validate(eval_project, run_dir)
    report = _report(run_dir, "validate")
    assert report["passed"] is False and report["utility"]["association"] == {"error": report["errors"]["association"]}
    assert "SECRET-VALUE" not in str(raised.value) + json.dumps(report)


def test_the_release_decision_is_drawn_once_per_fit(eval_project, real_tables, make_run, draw):
    """A cleared or retried `validate` reuses the stored verdict: drawing again until it passes would be repeated,
    uncharged noisy tests on the same data. A new fit (a new train report, charged anew) draws afresh."""
    train, holdout = real_tables
    run_dir = make_run(draw["population"](1600, np.random.default_rng(99)), train, holdout)
    assert run_validate(eval_project, run_dir)["release_decision"]["passed"]
    stored = json.loads((run_dir / "release_decision.json").read_text())
    assert stored["decision"]["passed"] is True
    # Whatever a fresh draw would say, a re-run answers with the stored verdict.
    stored["decision"]["passed"] = False
    (run_dir / "release_decision.json").write_text(json.dumps(stored))
    with pytest.raises(UtilityTooLow, match="release decision"):
        run_validate(eval_project, run_dir)
    assert _report(run_dir, "validate")["verdicts"]["release_decision"] is False
    (run_dir / "train" / "report.json").write_text('{"fit": "a new fit"}')
    assert run_validate(eval_project, run_dir)["release_decision"]["passed"]
    assert json.loads((run_dir / "release_decision.json").read_text())["fit"] != stored["fit"]


def test_no_release_decision_is_drawn_when_a_check_fails_to_run(eval_project, real_tables, make_run, draw,
                                                                  monkeypatch):
    from synth_pipeline.evaluate import association

    monkeypatch.setattr(association, "association_difference", lambda *args, **kwargs: 1 / 0)
    train, holdout = real_tables
    run_dir = make_run(draw["population"](1600, np.random.default_rng(12)), train, holdout)
    with pytest.raises(GatesFailed):
        run_validate(eval_project, run_dir)
    assert not (run_dir / "release_decision.json").exists()
    assert _report(run_dir, "validate")["release_decision"] is None
