"""Short, data-free summaries of a run's step reports: for `show-run` and for the steward's approval request."""

from __future__ import annotations

import json
from pathlib import Path

from synth_pipeline.runs import describe_run


def step_headline(step: str, report: dict) -> str:
    if step == "extract":
        return "rows read: " + ", ".join(f"{k} {v:,}" for k, v in report["rows"].items())
    if step == "harmonize":
        return (f"{report['rows_out']:,} rows out; {report['rows_rejected']:,} rejected, "
                f"{report['duplicates_removed']:,} duplicates removed")
    if step == "quality_gate":
        verdict = "passed" if report["passed"] else "FAILED"
        return f"{verdict}: {report['evaluated']} expectations of suite {report['suite']!r}"
    if step == "pii_scan":
        verdict = "passed" if report["passed"] else "FAILED"
        classes = ", ".join(f"{count} {name}" for name, count in report["classes"].items())
        return f"{verdict}: {len(report['columns'])} columns scanned ({classes}); {len(report['violations'])} undeclared"
    if step == "publish":
        return f"published version {report['version']} at {report['uri']}"
    scalars = ", ".join(f"{k}={v}" for k, v in report.items() if isinstance(v, (int, float, str)) and k != "spec_hash")
    return scalars[:200]


def step_reports(run_dir: Path) -> dict[str, dict]:
    reports = {}
    for step, _ in describe_run(run_dir):
        path = run_dir / step / "report.json"
        if path.is_file():
            reports[step] = json.loads(path.read_text())
    return reports


def review_markdown(release: str, run_id: str, run_dir: Path) -> str:
    """The approval request's body: what the steward needs to decide, and where the full report is."""
    lines = [f"### Release `{release}`, run `{run_id}`", ""]
    for step, report in step_reports(run_dir).items():
        lines.append(f"- **{step}**: {step_headline(step, report)}")
    internal = run_dir / "report" / "report.html"
    lines += ["", f"Internal report: `{internal}`" if internal.is_file() else "Internal report: not produced by this run",
              "", "Approve to publish this version; reject (with a comment) to publish nothing."]
    return "\n".join(lines)
