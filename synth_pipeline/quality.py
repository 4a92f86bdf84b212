"""Quality gates: Great Expectations suites from `expectations/` run on a table.

The report keeps counts and the expectation's own (public) arguments. GX also returns samples of unexpected
values and their row indexes; those are raw data and are dropped here, before anything is logged or written.

On the private table (the `quality_gate` step) the counts are private too: they go to the run folder's report, and
the error names only the expectations that failed and their rules (`enforce`). A suite is a query language, so it
must not ask about subsets of people: `row_condition` (and its parser) is refused when a suite is loaded. On the
synthetic table (`validate`) the counts are of DP data and may be shown.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from synth_pipeline.errors import ConfigError, QualityGateFailed
from synth_pipeline.paths import confined
from synth_pipeline.spec import LoadedSpec

# Aggregates that describe the table's shape, not a person: safe to report. Others (a column's max, its mean,
# its most common value) can be one individual's value, so they are not carried out of GX.
_SAFE_OBSERVED = {"expect_table_row_count_to_be_between", "expect_table_row_count_to_equal", "expect_table_column_count_to_equal",
                  "expect_table_column_count_to_be_between"}
_MAX_LIST = 6
# Arguments that restrict an expectation to the rows matching a condition: refused (see the module docstring).
_SUBSET_ARGUMENTS = {"row_condition", "condition_parser"}


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    arguments: str
    success: bool
    unexpected_count: int | None = None
    element_count: int | None = None
    observed_value: int | float | None = None
    raised_error: bool = False

    def describe(self, *, with_counts: bool) -> str:
        head = f"{self.expectation}({self.arguments})"
        if self.raised_error:
            return f"{head}: raised an error while evaluating (check the column names and arguments in the suite)"
        if not with_counts:
            return f"{head}: failed"
        if self.unexpected_count is not None and not self.element_count:
            return f"{head}: {self.unexpected_count} unexpected distinct value(s)"
        if self.unexpected_count is not None:
            share = 100.0 * self.unexpected_count / self.element_count if self.element_count else 0.0
            return f"{head}: {self.unexpected_count} of {self.element_count} rows unexpected ({share:.2f}%)"
        if self.observed_value is not None:
            return f"{head}: observed {self.observed_value}"
        return f"{head}: failed"


@dataclass(frozen=True)
class QualityReport:
    suite: str
    suite_sha256: str
    rows: int
    evaluated: int
    outcomes: tuple[ExpectationOutcome, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return all(outcome.success for outcome in self.outcomes)

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [outcome for outcome in self.outcomes if not outcome.success]

    def summary(self, *, with_counts: bool) -> str:
        """`with_counts=False` for a private table: the expectations and their rules, no row counts."""
        rows = f" on {self.rows} rows" if with_counts else ""
        if self.passed:
            return f"quality gate {self.suite!r}: all {self.evaluated} expectations passed{rows}"
        lines = [f"quality gate {self.suite!r} failed: {len(self.failures)} of {self.evaluated} expectations{rows}"]
        lines += [f"  - {outcome.describe(with_counts=with_counts)}" for outcome in self.failures]
        if not with_counts:
            lines.append("  (the counts are in the run folder's quality_gate report)")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


def _arguments(kwargs: dict) -> str:
    parts = []
    for key, value in kwargs.items():
        if key in ("batch_id", "result_format"):
            continue
        shown = f"<{len(value)} values>" if isinstance(value, (list, tuple)) and len(value) > _MAX_LIST else repr(value)
        parts.append(f"{key}={shown}")
    return ", ".join(parts)


def _raised(exception_info: dict | None) -> bool:
    # GX reports a failed metric either flat ({raised_exception: ...}) or per metric ({metric_id: {...}}).
    info = exception_info or {}
    if "raised_exception" in info:
        return bool(info["raised_exception"])
    return any(isinstance(v, dict) and v.get("raised_exception") for v in info.values())


def suite_path(loaded: LoadedSpec) -> Path:
    """The spec's `quality.suite`, resolved inside the folders allowed for suites (a spec may not read
    `/etc/passwd` as a suite)."""
    return confined(loaded.spec.quality.suite, kind="suites", project_root=loaded.project_root, where="quality.suite")


def load_suite_json(path: Path) -> dict:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"expectation suite {path}: cannot read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"expectation suite {path}: not valid JSON ({exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("expectations"), list):
        raise ConfigError(f"expectation suite {path}: expected an object with an 'expectations' list")
    for index, entry in enumerate(document["expectations"]):
        kwargs = entry.get("kwargs") if isinstance(entry, dict) else None
        refused = sorted(_SUBSET_ARGUMENTS & set(kwargs)) if isinstance(kwargs, dict) else []
        if refused:
            raise ConfigError(f"expectation suite {path}: expectations[{index}] uses {', '.join(refused)}: a suite may "
                              "not select a subset of rows (its verdict would answer a question about the people "
                              "in that subset); check the whole column instead")
    return document


def validate_table(table: pd.DataFrame, suite_path: Path) -> QualityReport:
    """Run the suite on the table with an in-memory GX context; never raises for a failing expectation."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # no telemetry from machines holding sensitive data
    logging.getLogger("great_expectations").setLevel(logging.WARNING)  # its INFO chatter buries the task log
    try:
        with warnings.catch_warnings():  # pyspark's, about a pandas it is not asked to use: noise in every task log
            warnings.filterwarnings("ignore", message="PySpark does not yet fully support", category=FutureWarning)
            import great_expectations as gx
    except SystemExit as exc:  # pyspark, which GX imports, exits where it takes the process for a doctest run
        raise ConfigError("Great Expectations could not be imported: pyspark (which it imports) exited because this "
                          "process's __main__ module has no file (a `python -c` or a spawned child of `python -m`). "
                          "Run the step from a script, `python -m` or the synth-pipeline CLI.") from exc
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    document = load_suite_json(suite_path)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    suite = gx.ExpectationSuite(name=document.get("name", suite_path.stem))
    for index, entry in enumerate(document["expectations"]):
        try:
            suite.add_expectation_configuration(ExpectationConfiguration(type=entry["type"], kwargs=entry.get("kwargs", {})))
        except Exception as exc:  # GX raises several types for an unknown or malformed expectation
            raise ConfigError(f"expectation suite {suite_path}: expectations[{index}] is invalid: {exc}") from None
    batch = (
        context.data_sources.add_pandas("synth_pipeline")
        .add_dataframe_asset("table")
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": table})
    )
    result = batch.validate(suite, result_format="BASIC")
    outcomes = []
    for item in result.results:
        config = item.expectation_config
        details = item.result or {}
        observed = details.get("observed_value") if config.type in _SAFE_OBSERVED else None
        outcomes.append(
            ExpectationOutcome(
                expectation=config.type,
                arguments=_arguments(dict(config.kwargs)),
                success=bool(item.success),
                unexpected_count=details.get("unexpected_count"),
                element_count=details.get("element_count"),
                observed_value=observed,
                raised_error=_raised(item.exception_info),
            )
        )
    return QualityReport(
        suite=suite.name,
        suite_sha256=hashlib.sha256(suite_path.read_bytes()).hexdigest(),
        rows=len(table),
        evaluated=len(outcomes),
        outcomes=tuple(outcomes),
    )


def enforce(report: QualityReport) -> None:
    """On the private table: the error names the expectations and rules that failed, never a count."""
    if not report.passed:
        raise QualityGateFailed(report.summary(with_counts=False))
