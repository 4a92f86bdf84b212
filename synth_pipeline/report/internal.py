"""The steward's internal report: one self-contained HTML page about one run, for the approval decision.

It holds real-vs-synthetic comparisons and risk figures (aggregates computed on private data), so it stays in the run
folder and is never published (DESIGN.md, invariant 4). It is built from the steps' JSON reports only: counts,
shares, scores and verdicts, never rows or values.
"""

from __future__ import annotations

from collections.abc import Mapping

from synth_pipeline.report import html, svg
from synth_pipeline.summary import accountant_epsilon, gate_verdicts, step_headline

_PLOTS = 24  # columns plotted at most (wide tables: the first ones in schema order)


def _fmt(value: object, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _verdict_rows(verdicts: list[dict]) -> list[list[object]]:
    return [[v["name"], _value_with_interval(v), f"{'<=' if v['direction'] == 'max' else '>='} {v['limit']:g}",
             html.Raw(html.badge(v["passed"])), v.get("note", "")] for v in verdicts]


def _value_with_interval(verdict: Mapping) -> str:
    interval = verdict.get("interval")
    if not interval or verdict.get("value") is None:
        return _fmt(verdict.get("value"))
    return f"{_fmt(verdict['value'])} [{_fmt(interval[0], 3)}, {_fmt(interval[1], 3)}]; gated on the lower end"


def _reruns(report: Mapping) -> str:
    """How often the step ran before on this run, and which gates failed then: re-running a check until it passes
    is visible."""
    earlier = report.get("earlier_runs") or []
    if not earlier:
        return ""
    failed = sorted({name for run in earlier for name, passed in (run.get("gates") or {}).items() if passed is False})
    said = f"; gates that failed in an earlier run: {', '.join(failed)}" if failed else ""
    return html.paragraph(f"Re-run: this check ran {len(earlier)} time(s) before on this run{said}.")


def _sampling(sampling: Mapping | None, checks: str) -> str:
    """The rows a check looked at, per side: its intervals follow from these, not from the tables' sizes."""
    if not sampling:
        return ""
    sides = ", ".join(f"{side} {rows:,}{' (a random sample)' if sampling['capped'].get(side) else ' (all rows)'}"
                      for side, rows in sampling["sample_rows"].items())
    return html.paragraph(f"{checks} looked at: {sides}. Each side is capped at check_rows = "
                          f"{sampling['check_rows']:,}; the intervals shown follow from these sample sizes.")


def _overview(release: str, run_id: str, reports: Mapping[str, dict], standing: Mapping) -> str:
    charge = reports.get("charge_budget", {})
    train = reports.get("train", {})
    sample = reports.get("sample", {})
    spent = accountant_epsilon(train)
    remaining = (standing.get("remaining") or {}).get("epsilon")
    reports = {step: report for step, report in reports.items() if step != "report"}  # an earlier try's, if any
    verdicts = list(gate_verdicts(reports).items())
    figures = [("epsilon charged", _fmt(charge.get("epsilon"))), ("generator's accounted epsilon", _fmt(spent)),
               ("budget left for the dataset", _fmt(remaining)), ("synthetic rows", f"{sample.get('rows', 0):,}")]
    table = html.table(["step", "verdict", "summary"], [
        [step, html.Raw(html.badge(report.get("passed")) if "passed" in report else html.badge(None, "done")),
         step_headline(step, report)] for step, report in reports.items()])
    failed = [step for step, passed in verdicts if not passed]
    advice = [name for step in ("validate", "reidentify") for name in reports.get(step, {}).get("advisory_failed", [])]
    lead = (f"Every gate passed: {release} run {run_id} may be approved." if not failed else
            f"Gates failed in: {', '.join(failed)}. This run must not be published.")
    if advice and not failed:
        # Unnoised figures above the spec's thresholds do not stop a run by themselves (that decision would not be
        # DP): the steward decides, and should reject unless the report explains them.
        lead = (f"The automatic checks passed, but these figures are above their thresholds: {', '.join(advice)}. "
                "Reject unless the figures below explain them.")
    return html.section("Run summary", html.paragraph(lead), html.kpis(figures), table)


def _privacy(reports: Mapping[str, dict], standing: Mapping) -> str:
    charge = reports.get("charge_budget", {})
    train = reports.get("train", {})
    privacy = train.get("privacy") or {}
    rows = [["dataset", charge.get("dataset")], ["ledger entry", (charge.get("ledger_entry") or {}).get("id")],
            ["charged (epsilon, delta)", f"({_fmt(charge.get('epsilon'))}, {_fmt(charge.get('delta'))})"],
            ["lifetime (epsilon, delta)", f"({_fmt((standing.get('lifetime') or {}).get('epsilon'))}, "
                                          f"{_fmt((standing.get('lifetime') or {}).get('delta'))})"],
            ["remaining after this run", f"({_fmt((standing.get('remaining') or {}).get('epsilon'))}, "
                                         f"{_fmt((standing.get('remaining') or {}).get('delta'))})"]]
    generator = dict(privacy.get("generator") or {})
    charges = generator.pop("charges", [])
    rows += [[f"accountant: {key}", _fmt(value)] for key, value in generator.items() if not isinstance(value, (dict, list))]
    estimation = privacy.get("estimation")
    if estimation:
        rows += [[f"estimated domain: {column}", f"{info.get('mechanism')} at epsilon {_fmt(info.get('epsilon'))}"]
                 for column, info in estimation.get("columns", {}).items()]
    rows += [[f"budget plan: {part['part']}", f"epsilon {_fmt(part['epsilon'])}, delta {_fmt(part['delta'])}"]
             for part in charge.get("plan") or []]
    decision = (reports.get("validate") or {}).get("release_decision")
    if decision:
        rows.append(["release decision (DP)", f"{'passed' if decision['passed'] else 'FAILED'}: {decision['mechanism']}, "
                                              f"epsilon {_fmt(decision['epsilon'])}"])
    mechanisms = html.table(["what it measured", "mechanism", "uses", "noise (sigma)", "total rho"], [
        [purpose, mechanism, group["count"], f"{min(group['sigmas']):.4g} .. {max(group['sigmas']):.4g}"
         if group["sigmas"] else "-", group["rho"]]
        for (purpose, mechanism), group in _grouped(charges).items()]) if charges else ""
    return html.section("Privacy budget", html.table(["", ""], rows), mechanisms,
                        note="Every mechanism that read private data, as the accountant recorded it. Releases of one "
                             "dataset compose by basic composition in the ledger.")


def _grouped(charges: list[dict]) -> dict[tuple[str, str], dict]:
    """The accountant's charges summed per purpose and mechanism (AIM makes hundreds of them)."""
    groups: dict[tuple[str, str], dict] = {}
    for charge in charges:
        group = groups.setdefault((str(charge.get("purpose")), str(charge.get("mechanism"))),
                                  {"count": 0, "rho": 0.0, "sigmas": []})
        group["count"] += int(charge.get("count") or 1)
        group["rho"] += float(charge.get("rho") or 0.0)
        if charge.get("sigma") is not None:
            group["sigmas"].append(float(charge["sigma"]))
    return groups


# The scan report records what was done by action (`policy.apply_actions`): each key lists (or maps) its columns.
_TAKEN = {"dropped": "drop", "pseudonymized": "pseudonymize", "generalized": "generalize", "redacted": "redact",
          "kept": "keep"}


def actions_by_column(actions: Mapping) -> dict[str, str]:
    """The scan report's actions turned round: column -> the action taken on it."""
    return {column: action for key, action in _TAKEN.items() for column in actions.get(key) or ()}


def _pii(report: Mapping, declared: Mapping[str, str]) -> str:
    """Per scanned column: the class the spec declares, the class the scan found, what it found and the action
    taken. A run the scan stopped took no action at all."""
    taken = actions_by_column(report.get("actions") or {})
    stopped = "none: the scan stopped the run"
    rows = []
    for column in report.get("columns", []):
        name = column["name"]
        entities = ", ".join(f"{entity} ({info.get('count')})" for entity, info in (column.get("entities") or {}).items())
        rows.append([name, declared.get(name, "not declared"), column.get("class") or "unscannable", entities or "-",
                     taken.get(name, stopped)])
    violations = [[v.get("column"), v.get("reason", "")] for v in report.get("violations", [])]
    body = [html.table(["column", "declared class", "class the scan found", "entities found (sampled values)",
                        "action taken"], rows)]
    if violations:
        body.append(html.table(["undeclared PII in", "why"], violations))
    return html.section("PII handling", *body)


def _validation(report: Mapping) -> str:
    validation = report.get("validation") or {}
    failures = validation.get("failures") or []
    body = [html.paragraph(validation.get("summary", "")) if validation.get("summary") else ""]
    if failures:
        body.append(html.table(["rule", "rows failing"], [[f.get("rule"), f.get("rows")] for f in failures]))
    return html.section("Output validation", html.badge(bool((report.get("verdicts") or {}).get("validation"))),
                        *body)


def _utility(report: Mapping, distributions: Mapping) -> str:
    utility = report.get("utility") or {}
    body = [_reruns(report)]
    marginals = utility.get("marginals") or {}
    if marginals and "error" not in marginals:
        body.append(html.table(["marginals", "mean TVD", "floor (holdout vs training)", "max TVD", "sets", "worst"], [
            [f"{ways}-way", m["mean"], m.get("floor", "n/a"), m["max"], m["sets"],
             ", ".join("×".join(w["columns"]) for w in m["worst"][:3])]
            for ways, m in marginals.items()]))
    tstr = utility.get("tstr") or {}
    body.append(_sampling(tstr.get("sampling"), "The TSTR and TRTR models"))
    if "tstr" in tstr:
        body.append(html.kpis([(f"TSTR {tstr.get('metric')} ({tstr.get('target')})", _fmt(tstr["tstr"], 3)),
                               ("trained on real", _fmt(tstr.get("trtr"), 3)), ("ratio", _fmt(tstr.get("ratio"), 3))]))
    queries = utility.get("queries") or []
    if isinstance(queries, list) and queries:
        body.append(html.table(["query", "metric", "groups", "mean relative error", "max relative error"],
                               [[q.get("name"), q.get("metric"), len(q.get("groups") or []), q.get("mean_relative_error"),
                                 q.get("max_relative_error")] for q in queries]))
        body += [html.details(f"{q.get('name')}: per group", html.table(
            ["group", "real", "synthetic", "relative error"],
            [[_group_label(g.get("group")), "suppressed" if g.get("suppressed") else g.get("real"), g.get("synthetic"),
              g.get("relative_error")] for g in q.get("groups") or []])) for q in queries]
    coverage = utility.get("categories") or {}
    gaps = [[column, ", ".join(e["category"] for e in info.get("missing", [])) or "-",
             ", ".join(e["category"] for e in info.get("under_represented", [])) or "-"]
            for column, info in coverage.items() if isinstance(info, dict) and (info.get("missing") or info.get("under_represented"))]
    if gaps:
        body.append(html.table(["column", "real categories missing", "under-represented (< half the real share)"], gaps))
    numeric = utility.get("numeric") or {}
    if numeric and "error" not in numeric:
        body.append(_numeric(numeric))
    body.append(html.table(["utility gate", "value", "gate", "verdict", "note"], _verdict_rows(report.get("gates", []))))
    charts = [svg.grouped_bars(info["labels"], {"real": info["real"], "synthetic": info["synthetic"]}, title=name,
                               width=340, height=210)
              for name, info in list(distributions.items())[:_PLOTS]]
    if charts:
        body.append('<h3>Real (training) vs synthetic, per column</h3><div class="grid">' + "".join(charts) + "</div>")
    return html.section("Utility", *body)


def _numeric(numeric: Mapping) -> str:
    """Exact-value figures per numeric column, each beside its floor (the holdout against the training table)."""
    def pair(figure: Mapping) -> str:
        return f"{_fmt(figure['synthetic'], 3)} (floor {_fmt(figure['floor'], 3)})"

    rows = [[name, pair(info["ks"]), pair(info["wasserstein"]),
             ", ".join(f"{q['q']:g}: {_fmt(q['synthetic'], 2)}" for q in info["quantiles"]),
             "; ".join(f"{p['value']:g}: {_fmt(p['real'], 3)} / {_fmt(p['synthetic'], 3)}" for p in info.get("points", []))
             or "-"]
            for name, info in numeric.items()]
    return html.table(["numeric column", "KS distance", "Wasserstein (share of range)",
                       "synthetic percentiles at real mid-rank", "declared values: real / synthetic share"], rows)


def _group_label(group: object) -> str:
    if isinstance(group, (list, tuple)):
        return " / ".join(map(str, group)) or "(all rows)"
    return str(group)


def _risk(report: Mapping) -> str:
    verdicts = report.get("gates", [])
    plotted = [v for v in verdicts if v.get("value") is not None]
    chart = svg.gate_chart(plotted, title="Each risk figure against its own gate") if plotted else ""
    membership = report.get("membership") or {}
    attacks = membership.get("attacks") or {}
    details = [[f"membership attack '{name}': AUC", _fmt(attack.get("auc"))] for name, attack in attacks.items()]
    details += [["membership advantage (strongest attack)", _fmt(membership.get("advantage"))],
                ["DP bound on any attack's advantage", _fmt(membership.get("dp_bound"))]]
    distance = (report.get("distance") or {}).get("dcr_share") or {}
    details += [["share closer to train than holdout (raw)", _fmt(distance.get("share_closer_to_train"))],
                ["expected without memorization (p0 = |train| / (|train| + |holdout|))", _fmt(distance.get("p0"))],
                ["share at equal set sizes (0.5 ideal, 1.0 a copy)", _fmt(distance.get("share_at_equal_sizes"))]]
    return html.section("Re-identification risk", _reruns(report), _sampling(report.get("sampling"), "These checks"),
                        html.table(["check", "value", "gate", "verdict", "note"], _verdict_rows(verdicts)),
                        html.table(["detail", ""], details), chart,
                        note="All attacks use the holdout, which training never saw, as their control.")


def build_internal_report(*, release: str, run_id: str, reports: Mapping[str, dict], distributions: Mapping,
                          standing: Mapping, pii_classes: Mapping[str, str]) -> str:
    """`pii_classes`: the class the spec declares for each PII column (`pii.columns`)."""
    sections = [_overview(release, run_id, reports, standing), _privacy(reports, standing)]
    if "pii_scan" in reports:
        sections.append(_pii(reports["pii_scan"], pii_classes))
    if "validate" in reports:
        sections += [_validation(reports["validate"]), _utility(reports["validate"], distributions)]
    if "reidentify" in reports:
        sections.append(_risk(reports["reidentify"]))
    return html.page(f"Internal report: {release}", f"run {run_id} — for the data steward only; never published",
                     sections)
