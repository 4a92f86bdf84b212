from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from synth_pipeline import quality
from synth_pipeline.errors import ConfigError, PathNotAllowed, QualityGateFailed
from synth_pipeline.harmonize import harmonize
from synth_pipeline.sources import RunContext, read_sources
from synth_pipeline.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
CANARY = "Zebulon-Canary-7731"


@pytest.fixture(scope="module")
def heart_table() -> pd.DataFrame:
    loaded = load_spec(ROOT / "releases" / "heart_disease.yaml")
    table, _ = harmonize(read_sources(loaded, context=RunContext("t")), harmonize_spec=loaded.spec.harmonize, schema=loaded.spec.schema)
    return table


SUITE = ROOT / "expectations" / "heart_disease.json"


def test_clean_table_passes(heart_table):
    report = quality.validate_table(heart_table, SUITE)
    assert report.passed and report.evaluated == len(json.loads(SUITE.read_text())["expectations"])
    quality.enforce(report)


def test_corrupted_copy_fails_with_counts_and_no_values(heart_table):
    corrupted = heart_table.copy()
    corrupted["num"] = corrupted["num"].astype("Int64")
    corrupted.loc[:9, "num"] = 7  # ten rows outside 0..4
    hospital = corrupted["source_hospital"].astype("string")
    hospital.iloc[:3] = CANARY
    corrupted["source_hospital"] = hospital
    report = quality.validate_table(corrupted, SUITE)
    assert not report.passed
    failed = {(o.expectation, o.unexpected_count) for o in report.failures}
    assert ("expect_column_values_to_be_between", 10) in failed
    assert ("expect_column_values_to_be_in_set", 3) in failed
    with pytest.raises(QualityGateFailed) as caught:
        quality.enforce(report)
    message = str(caught.value)
    assert "expect_column_values_to_be_between(column='num', min_value=0.0, max_value=4.0): failed" in message
    assert "unexpected" not in message and "918" not in message  # the counts stay in the run folder's report
    assert CANARY not in message and CANARY not in json.dumps(report.to_dict())


def test_missing_column_is_reported_as_an_error_not_a_crash(heart_table):
    report = quality.validate_table(heart_table.drop(columns=["chol"]), SUITE)
    assert not report.passed
    assert any(o.raised_error for o in report.failures)
    assert "expect_table_columns_to_match_ordered_list" in report.summary(with_counts=False)


@pytest.mark.parametrize(
    "content,message",
    [("{not json", "not valid JSON"), ('{"name": "x"}', "expected an object with an 'expectations' list"),
     ('{"expectations": [{"type": "expect_nothing_useful"}]}', r"expectations\[0\] is invalid"),
     # A condition turns an expectation into a count query on a subset of people: refused, whatever it selects.
     ('{"expectations": [{"type": "expect_column_values_to_be_between", "kwargs": {"column": "chol", "max_value": 300,'
      ' "row_condition": "age==63", "condition_parser": "pandas"}}]}',
      r"expectations\[0\] uses condition_parser, row_condition: a suite may not select a subset of rows"),
     ('{"expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "chol"}},'
      ' {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "age", "row_condition": "sex==\'M\'"}}]}',
      r"expectations\[1\] uses row_condition")],
    ids=["bad-json", "no-expectations", "unknown-expectation", "row-condition", "row-condition-second"],
)
def test_bad_suites_are_configuration_errors(tmp_path, heart_table, content, message):
    suite = tmp_path / "suite.json"
    suite.write_text(content)
    with pytest.raises(ConfigError, match=message):
        quality.validate_table(heart_table, suite)


@pytest.mark.parametrize(
    "suite,allowed",
    [("expectations/heart_disease.json", True), ("../../../../etc/passwd", False), ("/etc/passwd", False),
     ("expectations/../releases/heart_disease.yaml", False), ("expectations/link.json", False)],
    ids=["bundled", "dot-dot", "absolute", "dot-dot-inside", "symlink-to-outside"],
)
def test_the_suite_must_be_in_an_allowed_folder(project, suite, allowed):
    (project / "expectations" / "link.json").symlink_to("/etc/passwd")
    loaded = load_spec(project / "releases" / "heart_disease.yaml")
    spec = loaded.spec.model_copy(update={"quality": loaded.spec.quality.model_copy(update={"suite": suite})})
    loaded = loaded.model_copy(update={"spec": spec})
    if allowed:
        assert quality.suite_path(loaded) == (project / suite).resolve()
        return
    with pytest.raises(PathNotAllowed, match=r"quality\.suite: .* resolves outside the folders allowed for suites"):
        quality.suite_path(loaded)


def test_a_process_that_pyspark_takes_for_a_doctest_run_gets_a_typed_error_not_a_silent_exit(tmp_path):
    """pyspark (imported by GX) calls sys.exit(0) where __main__ has no file: `python -c`, or a spawned child of
    `python -m pytest`. A gate that exits 0 without running is worse than one that fails: the error says why."""
    import subprocess
    import sys

    suite = tmp_path / "suite.json"
    suite.write_text(json.dumps({"name": "s", "expectations": []}))
    code = ("import sys, pandas as pd; from pathlib import Path; from synth_pipeline.quality import validate_table; "
            "validate_table(pd.DataFrame({'a': [1]}), Path(sys.argv[1]))")
    child = subprocess.run([sys.executable, "-c", code, str(suite)], capture_output=True, text=True)
    assert child.returncode == 1 and "ConfigError: Great Expectations could not be imported" in child.stderr
