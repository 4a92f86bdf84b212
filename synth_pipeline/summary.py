"""Short summaries of a run's step reports.

`step_headline` quotes the run folder's private figures (counts, unnoised comparisons): it is for readers of the run
folder (`show-run`, the steward's internal report). `review_markdown`, the approval request's body, is seen by every
Airflow user, so it carries names, verdicts and DP values only, and points to the internal report for the rest.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from synth_pipeline.runs import describe_run

# The steps whose report carries a verdict that decides whether the run may be published.
GATED_STEPS = ("quality_gate", "pii_scan", "validate", "reidentify")


def gate_verdicts(reports: Mapping[str, dict]) -> dict[str, bool]:
    """{gated step: passed} for the gated steps that reported."""
    return {step: bool(reports[step].get("passed")) for step in GATED_STEPS if step in reports}


def accountant_epsilon(train_report: Mapping) -> float | None:
    """The epsilon the generator's accountant reports, from the train step's report."""
    return ((train_report.get("privacy") or {}).get("generator") or {}).get("epsilon")


def _verdict(report: dict) -> str:
    return "passed" if report.get("passed") else "FAILED"


def _gate_figures(report: dict, names: tuple[str, ...]) -> str:
    figures = {g["name"]: g["value"] for g in report.get("gates", [])}
    return ", ".join(f"{name} {figures[name]:.3g}" for name in names if figures.get(name) is not None)


def _charge(report: dict) -> str:
    entry = report["ledger_entry"]
    return (f"charged epsilon {report['epsilon']:g}, delta {report['delta']:g} to {report['dataset']!r} (ledger entry "
            f"#{entry['id']}, {entry['status']}); remaining epsilon {report['remaining']['epsilon']:.4g}")


def _train(report: dict) -> str:
    spent = accountant_epsilon(report)
    accounted = f"; accountant's epsilon {spent:.4g}" if spent is not None else ""
    return f"{report['generator']} fitted on {len(report['modelled_columns'])} columns in {report['fit_s']}s{accounted}"


_HEADLINES: dict[str, Callable[[dict], str]] = {
    "extract": lambda r: "rows read: " + ", ".join(f"{k} {v:,}" for k, v in r["rows"].items()),
    "harmonize": lambda r: (f"{r['rows_out']:,} rows out; {r['rows_rejected']:,} rejected, "
                            f"{r['duplicates_removed']:,} duplicates removed"),
    "quality_gate": lambda r: f"{_verdict(r)}: {r['evaluated']} expectations of suite {r['suite']!r}",
    "pii_scan": lambda r: (f"{_verdict(r)}: {len(r['columns'])} columns scanned ("
                           + ", ".join(f"{n} {c}" for c, n in r["classes"].items())
                           + f"); {len(r['violations'])} with undeclared PII"),
    "split": lambda r: (f"train {r['train_rows']:,} rows, holdout {r['holdout_rows']:,}; "
                        f"{r['contributions']['rows_dropped_by_bound']:,} rows dropped by the contribution bound"),
    "charge_budget": _charge,
    "train": _train,
    "settle_budget": lambda r: f"charge {r['action'].replace('_', ' ')}",
    "sample": lambda r: f"{r['rows']:,} synthetic rows in {r['sample_s']}s",
    "validate": lambda r: f"{_verdict(r)}: " + _gate_figures(r, ("tvd_1way", "tvd_2way", "tstr_ratio")),
    "reidentify": lambda r: f"{_verdict(r)}: " + _gate_figures(
        r, ("dcr_share_at_equal_sizes", "membership_advantage", "singling_out_risk", "linkability_risk",
            "attribute_inference_risk")),
    "report": lambda r: "internal report" + (" and data card" if r.get("data_card") else "") + " written",
    "publish": lambda r: f"published version {r['version']} at {r['uri']}",
}


def step_headline(step: str, report: dict) -> str:
    headline = _HEADLINES.get(step)
    if headline is not None:
        try:
            return headline(report)
        except (KeyError, TypeError, ValueError):
            pass  # a report of another shape (an older run, a failed step): fall back to its scalar fields
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
    """The approval request's body: the charge and the DP release decision, and where the full report is."""
    reports = step_reports(run_dir)
    gates = gate_verdicts(reports)
    failed = sorted(step for step, passed in gates.items() if not passed)
    charge = reports.get("charge_budget")
    decision = (reports.get("validate") or {}).get("release_decision") or {}
    lines = [f"### Release `{release}`, run `{run_id}`", ""]
    if charge:
        lines.append(f"**Privacy:** this run spent epsilon {charge['epsilon']:g} (delta {charge['delta']:g}) of "
                     f"dataset `{charge['dataset']}`; {charge['remaining']['epsilon']:.4g} remains.")
    if decision:
        lines.append(f"**Release decision** (epsilon {decision['epsilon']:g}, DP): "
                     + ("passed" if decision.get("passed") else "FAILED"))
    lines.append("**Checks:** " + ("all passed (" + ", ".join(gates) + ")" if not failed else "FAILED: " + ", ".join(failed)))
    internal = run_dir / "report" / "report.html"
    lines += ["", f"The figures (real-vs-synthetic comparisons and re-identification risks, with the steward's "
                  f"thresholds) are in the internal report, for the steward only: `{internal}`" if internal.is_file()
              else "Internal report: not produced by this run",
              "", "Approve to publish this version; reject (with a comment) to publish nothing."]
    return "\n".join(lines)
