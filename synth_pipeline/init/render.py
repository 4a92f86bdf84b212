"""The files `init` writes: a release spec with every undecided field a `TODO(...)`, a suite scaffold, a ledger proposal.

Their content comes from the column names, types and PII classes (`ColumnPlan`) and from public defaults: nothing
here sees a row. Bounds, category lists, the budget, the privacy unit and the stewards are the author's decisions,
each written as a placeholder that `load_spec` refuses with its key path and the explanation below.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import yaml

from synth_pipeline.init.columns import Suggestion, suggestions_for
from synth_pipeline.spec.todo import todo


@dataclass(frozen=True)
class ColumnPlan:
    source: str  # as the source file names it
    name: str  # the schema's name
    kind: str  # inferred: integer, float, boolean, datetime, text
    pii: dict | None = None  # the pii.columns entry, or None when the scan found nothing
    entities: tuple[str, ...] = ()  # entity types found (names only: no counts)
    suggestions: tuple[Suggestion, ...] = field(default=())


def plan_column(source: str, name: str, kind: str, suggestion: str | None, entities: tuple[str, ...]) -> ColumnPlan:
    """`suggestion` is `scan-pii`'s entry for the column (`synth_pipeline.pii.report.suggestion_for`)."""
    rule = yaml.safe_load(suggestion) if suggestion else None
    if rule is not None and rule.get("generalize", {}).get("zip_prefix") and "categories" not in rule["generalize"]:
        rule["generalize"]["categories"] = todo(
            f"the public list of {rule['generalize']['zip_prefix']}-digit prefixes {name} may hold (e.g. a state's "
            "ZIP3 list), quoted; or delete this key to estimate them under DP, paid from privacy.estimation")
    return ColumnPlan(source, name, kind, rule, entities, tuple(suggestions_for(name, kind)))


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-/]*")
_YAML_WORDS = frozenset({"yes", "no", "on", "off", "true", "false", "null", "y", "n", "estimate"})


def _flow(value: object) -> str:
    """YAML flow style, one line: strings plain when nothing can misread them, else double-quoted (JSON's quoting
    is YAML's)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_flow(key)}: {_flow(item)}" for key, item in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(item) for item in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if _PLAIN.fullmatch(text) and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text, ensure_ascii=False)


def _key(name: str) -> str:
    return _flow(name)


def _schema_type(plan: ColumnPlan) -> str:
    action = plan.pii.get("action") if plan.pii else None
    if action in ("drop", "pseudonymize", "redact"):
        return "string"  # never modelled: no domain to declare
    generalize = (plan.pii or {}).get("generalize") or {}
    if "to" in generalize:
        return "datetime"
    if "zip_prefix" in generalize:
        return "string"
    return {"integer": "integer", "float": "float", "boolean": "boolean", "datetime": "datetime"}.get(plan.kind,
                                                                                                      "categorical")


def _bound(which: str, name: str) -> str:
    extreme = "smallest" if which == "min" else "largest"
    return todo(f"the {extreme} value {name} can take, from public knowledge (code book, legal range, a top-code), "
                f"never from the data; with estimate_bounds: true a wide public outer range is enough")


def schema_lines(plan: ColumnPlan) -> list[str]:
    kind = _schema_type(plan)
    head = f"  {_key(plan.name)}:"
    if kind == "string":
        why = f"  # pii: {plan.pii['action']}" if plan.pii else "  # free text or an identifier: never synthesized"
        return [f"{head} {{type: string, nullable: true}}{why}"]
    if kind == "boolean":
        return [f"{head} {{type: boolean, nullable: true}}"]
    lines = [head, f"    type: {kind}",
             "    nullable: true      # set false if it can never be missing (a missing value then rejects the row)"]
    if kind in ("integer", "float"):
        lines += [f"    min: {_flow(_bound('min', plan.name))}", f"    max: {_flow(_bound('max', plan.name))}",
                  "    out_of_domain: clip   # or reject (fail the run) or null",
                  "    # estimate_bounds: true   # min/max then only an outer range: DP quantiles tighten it "
                  "(paid from privacy.estimation)"]
        for suggestion in plan.suggestions:
            lines.append(f"    # {suggestion.line}   # suggested from the name: {suggestion.why}")
    elif kind == "datetime":
        for which, extreme in (("min", "earliest"), ("max", "latest")):
            lines.append(f"    {which}: " + _flow(todo(f"the {extreme} date {plan.name} can hold, ISO 8601 (e.g. "
                                                       "1900-01-01), from public knowledge, never from the data")))
        if plan.kind != "datetime":
            lines.append("    format: " + _flow(todo("how the source writes these dates, as a strptime format "
                                                      "(e.g. %Y%m%d), since they are not ISO 8601")))
    else:
        lines.append("    categories: " + _flow(todo(
            f"the public list of {plan.name}'s levels, e.g. [a, b, c], from the code book (never listed from the "
            "data; quote yes/no/on/off); or the word estimate to estimate them under DP, paid from "
            "privacy.estimation; or change type to string if it is free text")))
    return lines


def pii_lines(plans: list[ColumnPlan]) -> list[str]:
    entries = [plan for plan in plans if plan.pii]
    if not entries:
        return ["pii:", "  columns: {}   # the scan found no personal data: every column is declared free of it"]
    lines = ["pii:", "  # Suggested by the PII scan (classes and entity types only); review every line. A column not",
             "  # listed is declared free of personal data, and the run stops if the scan finds some there.",
             "  columns:"]
    for plan in entries:
        found = ", ".join(plan.entities) or "its name"
        lines.append(f"    {_key(plan.name)}: {_flow(plan.pii)}   # found: {found}")
    return lines


def spec_text(*, name: str, source_name: str, source_entry: dict, plans: list[ColumnPlan], scanned: str,
              suite: str) -> str:
    renames = {plan.source: plan.name for plan in plans if plan.source != plan.name}
    lines = [
        f"# Written by `synth-pipeline init` from {scanned}: column names, types and PII classes only. No value, bound,",
        "# category, count or row of the data is in this file, and none may be copied into it: everything under",
        "# `schema` is the PUBLIC domain. Each TODO(...) is a decision only you can make; list those left with",
        f"#   synth-pipeline validate-spec releases/{name}.yaml",
        f"name: {name}",
        "description: " + _flow(todo("one or two sentences: what the synthetic table holds")),
        "owner: " + _flow(todo("the team that owns this release (the DAG's owner)")),
        "purpose: " + _flow(todo("what analysts may use the release for, and not (shown in the data card)")),
        "schedule: null            # manual; a cron line or a preset (@daily) schedules the release",
        "retention_days: 365       # how long a published version is kept",
        "tags: []",
        "",
        "sources:",
        f"  {_key(source_name)}: {_flow(source_entry)}",
        "",
        "harmonize:",
    ]
    if renames:
        lines += ["  sources:", f"    {_key(source_name)}:", "      rename:"]
        lines += [f"        {_key(old)}: {_key(new)}" for old, new in renames.items()]
    else:
        lines.append("  sources: {}")
    lines += ["  # dedupe: {keys: null, keep: first}   # drop identical rows (under privacy_unit: row, whole rows only)",
              "", "schema:"]
    for plan in plans:
        lines += schema_lines(plan)
    lines += ["", *pii_lines(plans), ""]
    lines += [
        "privacy_unit: " + _flow(todo("row if each person has at most one row; otherwise {key: COLUMN, max_rows: N}, "
                                      "COLUMN a schema column naming the person (pseudonymize it in pii)")),
        "privacy:",
        "  epsilon: " + _flow(todo("this release's total epsilon, estimation included, e.g. 1.0; it is charged "
                                   "to the dataset's lifetime budget in config/ledger.yaml")),
        "  delta: " + _flow(todo("e.g. 1.0e-6: must be below 1/min_individuals")),
        "  min_individuals: " + _flow(todo("a PUBLIC lower bound on the people in the data (a register, a census, "
                                           "the owner's knowledge), never counted from the data")),
        "  # The share of epsilon and delta spent estimating what the schema leaves to DP (categories: estimate,",
        "  # estimate_bounds, estimate_bin_edges, ZIP prefixes without a list); delete it if every domain is declared.",
        "  estimation:",
        "    epsilon: " + _flow(todo("e.g. a tenth of privacy.epsilon, split evenly over the estimated columns")),
        "    delta: " + _flow(todo("e.g. a tenth of privacy.delta; above 0 when categories are estimated")),
        "generator:                # fixed before any data is seen: tuning on the private table would leak",
        "  name: aim               # or dpsgd_autoregressive",
        "  params: {}",
        f"quality: {{suite: {suite}}}   # the GX suite gating the harmonized table",
        "# evaluation: {target: COLUMN, holdout_fraction: 0.2}   # train-on-synthetic, test-on-real utility",
        "approval:",
        "  stewards: [" + _flow(todo("the Airflow user ids who may approve a run (never who triggers it)")) + "]",
        "  timeout_hours: 72",
        "publish: {uri: published, formats: [parquet]}",
    ]
    return "\n".join(lines) + "\n"


def suite_json(*, name: str, plans: list[ColumnPlan]) -> str:
    """The input gate's scaffold: the column list (the schema's, so nothing the spec does not say) and no rule
    read off the data; the author adds expectations from public knowledge."""
    document = {
        "name": name,
        "meta": {"description": f"Input gate for the {name} release, written by synth-pipeline init: add "
                                "expectations from public knowledge (never from the data), e.g. "
                                "expect_column_values_to_be_between with the schema's bounds.",
                 "spec": f"releases/{name}.yaml"},
        "expectations": [{"type": "expect_table_columns_to_match_ordered_list",
                          "kwargs": {"column_list": [plan.name for plan in plans]}}],
    }
    return json.dumps(document, indent=2) + "\n"


def ledger_proposal(*, name: str, source_path: str) -> str:
    entry = {"datasets": {name: {"epsilon": todo("the most this dataset may ever lose over all its releases, e.g. "
                                                 "ten releases' worth"),
                                 "delta": todo("the lifetime delta, below 1/(the people in the data)"),
                                 "sources": [{"path": source_path}]}}}
    return "\n".join([
        f"# Proposed ledger entry for the {name} release, written by synth-pipeline init. The lifetime budget is the",
        "# DATA OWNER's decision, not the spec author's: review it, fill in the TODOs and add the entry under",
        "# `datasets:` in config/ledger.yaml (or $SYNTH_PIPELINE_LEDGER_CONFIG). Until then nothing can be charged.",
        yaml.safe_dump(entry, sort_keys=False, width=120, allow_unicode=True).rstrip(),
    ]) + "\n"
