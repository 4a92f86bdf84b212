"""What the scan tells people: the run folder's report, the gate's error, the CLI's table and suggested `pii:` block.

All of it is built from findings (column names, entity types, counts, scores), never from values.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping

from synth_pipeline.pii import classify
from synth_pipeline.pii.classify import ColumnFinding
from synth_pipeline.pii.policy import Violation
from synth_pipeline.spec import PiiColumn

THRESHOLDS = {
    "score_threshold": classify.SCORE_THRESHOLD, "min_share": classify.MIN_SHARE, "min_count": classify.MIN_COUNT,
    "sparse_min_share": classify.SPARSE_MIN_SHARE, "near_unique_share": classify.NEAR_UNIQUE_SHARE,
    "near_unique_min_sample": classify.NEAR_UNIQUE_MIN_SAMPLE,
    "ner_min_share": classify.NER_MIN_SHARE, "name_hint_score": classify.HINT_SCORE,
    "free_text_share": classify.FREE_TEXT_SHARE, "max_scan_chars": classify.MAX_SCAN_CHARS,
}


def class_counts(findings: list[ColumnFinding]) -> dict[str, int]:
    return dict(sorted(Counter(f.pii_class or "unscannable" for f in findings).items()))


def scan_document(findings: list[ColumnFinding], violations: list[Violation], *, sample_size: int,
                  elapsed_s: float) -> dict:
    return {
        "passed": not violations,
        "sample_size": sample_size,
        "thresholds": THRESHOLDS,
        "elapsed_s": round(elapsed_s, 3),
        "classes": class_counts(findings),
        "columns": [f.to_dict() for f in findings],
        "violations": [v.to_dict() for v in violations],
    }


def pii_found_message(release: str, violations: list[Violation], *, with_counts: bool) -> str:
    """`with_counts` only where the reader may see the data (the `scan-pii` command on a file): a pipeline run's
    error goes to Airflow users, who get the columns and entity types, not how many values held them."""
    lines = [f"PII scan of {release!r} stopped the run: personal data the spec does not declare, in "
             f"{len(violations)} column(s):"]
    lines += [f"  - {v.line(with_counts=with_counts)}" for v in violations]
    lines.append("Declare each in pii.columns with its class and action, or take it out of the schema "
                 "(`synth-pipeline scan-pii FILE` suggests a pii: block).")
    return "\n".join(lines)


def columns_json(findings: list[ColumnFinding]) -> dict:
    columns = []
    for finding in findings:
        entities = dict(sorted(finding.entity_counts().items()))
        entry = {"name": finding.name, "class": finding.pii_class, "entities": entities}
        if finding.rules:
            entry["rules"] = list(finding.rules)
        if finding.unscannable is not None:
            entry["unscannable"] = finding.unscannable
        columns.append(entry)
    return {"columns": columns}


def findings_table(findings: list[ColumnFinding], declared: Mapping[str, PiiColumn] | None = None) -> str:
    header = ("column", "class", "sampled", "entities (values holding them)")
    rows = [header + (("declared",) if declared is not None else ())]
    for f in findings:
        entities = ", ".join([*(f"{e} {s.count}" for e, s in sorted(f.entities.items(), key=lambda kv: -kv[1].count)),
                              *(f"rule {r}" for r in f.rules)])
        if f.unscannable is not None:
            entities = f"unscannable: {f.unscannable}"
        row = (f.name, f.pii_class or "-", str(f.sampled), entities or "-")
        if declared is not None:
            rule = declared.get(f.name)
            row += (f"{rule.class_}/{rule.action}" if rule else "-",)
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join([*(cell.ljust(w) for cell, w in zip(r, widths)), r[-1]]).rstrip() for r in rows)


def _yaml_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else json.dumps(name)


# A country's own coarsening of its postcodes as a digit prefix: the German Leitregion, the French departement, the
# Spanish provincia, the Dutch 2-digit region. A UK postcode has no digit prefix (its outward code is letters and
# digits), and a column of several countries' codes has no one prefix: those are dropped, or generalized per
# country before the pipeline.
POSTCODE_PREFIX = {"US": 3, "DE": 2, "FR": 2, "ES": 2, "NL": 2}


def _postcode_suggestion(finding: ColumnFinding) -> str:
    regions = finding.postcode_regions
    if len(regions) == 1 and regions[0] in POSTCODE_PREFIX:
        prefix = POSTCODE_PREFIX[regions[0]]
        return f"{{class: quasi_identifier, action: generalize, generalize: {{zip_prefix: {prefix}}}}}"
    return "{class: quasi_identifier, action: drop}"


def suggestion_for(finding: ColumnFinding) -> str | None:
    """The suggested `pii.columns` entry for one column (YAML flow style), or None when nothing was found."""
    if finding.unscannable is not None:
        return "{class: direct_identifier, action: drop}"
    if finding.pii_class == "secret":
        return "{class: secret, action: drop}"
    if finding.pii_class == "direct_identifier":
        return "{class: direct_identifier, action: drop}"
    if finding.pii_class == "free_text":
        return "{class: free_text, action: redact}"
    if finding.pii_class == "quasi_identifier" and "DATE_TIME" in finding.entities:
        return "{class: quasi_identifier, action: generalize, generalize: {to: year}}"
    if finding.pii_class == "quasi_identifier" and "GEO_COORDINATE" in finding.entities:
        return "{class: quasi_identifier, action: drop}"
    if finding.pii_class == "quasi_identifier" and "ZIP_CODE" in finding.entities:
        return _postcode_suggestion(finding)
    if finding.pii_class in ("quasi_identifier", "sensitive"):
        return f"{{class: {finding.pii_class}, action: keep}}"
    return None


def suggested_block(findings: list[ColumnFinding], *, source: str) -> str:
    """A `pii:` block for a new spec: drop secrets and direct identifiers (or pseudonymize identifiers: add pii.key),
    redact free text, generalize dates and postcodes (by the country their shape points at; dropped when it has no
    digit prefix or several countries mix), keep the other quasi-identifiers and sensitive attributes."""
    lines = [f"# Suggested from a scan of {source}; review every line. Names are the file's: use the schema's.",
             "# `to: year` needs a datetime schema column; `zip_prefix` a string one and the public prefixes in",
             "# `categories` (or privacy.estimation). Pseudonymizing instead of dropping needs pii.key.",
             "pii:", "  columns:"]
    entries = [(f, suggestion_for(f)) for f in findings]
    width = max((len(_yaml_key(f.name)) for f, s in entries if s), default=0)
    for finding, suggestion in entries:
        if suggestion is None:
            continue
        why = f"unscannable: {finding.unscannable}" if finding.unscannable else ", ".join(
            [*(f"{e} {s.count}/{finding.sampled}" for e, s in sorted(finding.entities.items())),
             *(f"rule {r}" for r in finding.rules)])
        if finding.postcode_regions and "ZIP_CODE" in finding.entities:
            why += f"; postcode shapes: {', '.join(finding.postcode_regions)}"
        lines.append(f"    {(_yaml_key(finding.name) + ':').ljust(width + 1)} {suggestion}  # {why}")
    if lines[-1] == "  columns:":
        lines[-1] = "  columns: {}  # the scan found no personal data"
    return "\n".join(lines)
