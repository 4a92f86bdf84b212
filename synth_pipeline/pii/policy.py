"""The gate (undeclared PII stops the run) and the declared actions, as pure functions on DataFrames.

Actions: `drop`; `pseudonymize` (HMAC-SHA256 under the key, hex: the same value and key always give the same
token, and without the key a token reveals nothing, RFC 2104); `generalize` (dates to year or month, ZIP codes to
a prefix, numbers to bands, onto the domain `output_schema` derives from the spec); `redact` (every entity Presidio
finds in the text replaced by `<ENTITY_TYPE>`, presidio-anonymizer); `keep`. Counts go to the report, never values.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from synth_pipeline.errors import ConfigError
from synth_pipeline.pii.classify import SCORE_THRESHOLD, ColumnFinding, cell_text
from synth_pipeline.pii.engine import LANGUAGE
from synth_pipeline.pii.output import output_schema
from synth_pipeline.pii.shapes import ENTITY_CLASS
from synth_pipeline.spec import (
    BooleanColumn,
    CategoricalColumn,
    ColumnSpec,
    DatetimeColumn,
    Generalization,
    NumericColumn,
    PiiSpec,
    StringColumn,
)

REDACT_CHUNK_CHARS = 100_000  # spaCy refuses texts over 1,000,000 characters; longer cells go in pieces


@dataclass(frozen=True)
class Violation:
    """One column the gate refuses: its name, why, and the entity types found with counts."""

    column: str
    reason: str
    entities: dict[str, int] = field(default_factory=dict)
    sampled: int = 0

    def line(self, *, with_counts: bool) -> str:
        """`with_counts=False` in a pipeline run: the entity types found, not how many values held them."""
        found = ", ".join(f"{e} ({n} of {self.sampled} sampled values)" if with_counts else e
                          for e, n in sorted(self.entities.items()))
        return f"{self.column}: {found + '; ' if found else ''}{self.reason}"

    def to_dict(self) -> dict:
        return {"column": self.column, "reason": self.reason, "entities": dict(sorted(self.entities.items())),
                "sampled": self.sampled}


# What each column-level rule means, for the gate's message: the rule is named, never the figures behind it.
RULE_REASONS = {"near_unique": "near-unique values: a likely record key or row number"}


def _entities_of(finding: ColumnFinding, pii_class: str, custom_classes: Mapping[str, str]) -> dict[str, int]:
    return {e: n for e, n in finding.entity_counts().items()
            if (custom_classes.get(e) or ENTITY_CLASS.get(e, "direct_identifier")) == pii_class}


def gate(findings: list[ColumnFinding], pii: PiiSpec, *, custom_classes: Mapping[str, str]) -> list[Violation]:
    """Undeclared PII: found in a column `pii.columns` does not list (or lists as `none`), a column that could not be
    scanned, a secret in a column declared with any action but drop, or direct identifiers / free text in a column
    declared to be kept or generalized."""
    violations = []
    for finding in findings:
        declared = pii.columns.get(finding.name)
        where = "not in pii.columns" if declared is None else "declared class none in pii.columns"
        undeclared = declared is None or declared.class_ == "none"
        rules = "".join(f" ({RULE_REASONS[r]})" for r in finding.rules)
        secrets = _entities_of(finding, "secret", custom_classes)
        if finding.unscannable is not None and undeclared:
            violations.append(Violation(finding.name, f"cannot be scanned ({finding.unscannable}); {where}",
                                        sampled=finding.sampled))
        elif finding.pii_class not in (None, "none") and undeclared:
            violations.append(Violation(finding.name, f"{finding.pii_class}{rules}, {where}", finding.entity_counts(),
                                        finding.sampled))
        elif declared is not None and secrets and declared.action != "drop":
            violations.append(Violation(
                finding.name, f"declared {declared.class_} with action {declared.action}, but it holds secrets "
                "(passwords, PINs, card codes, security answers, keys), which are always dropped", secrets,
                finding.sampled))
        elif declared is not None and declared.action in ("keep", "generalize"):
            direct = _entities_of(finding, "direct_identifier", custom_classes)
            if direct or finding.rules or finding.pii_class == "free_text":
                held = "free text" if finding.pii_class == "free_text" else f"direct identifiers{rules}"
                violations.append(Violation(
                    finding.name, f"declared {declared.class_} with action {declared.action}, but it holds {held} "
                    "(drop or pseudonymize it, or redact free text)", direct, finding.sampled))
    return violations


def pseudonymize(series: pd.Series, *, key: bytes) -> pd.Series:
    """HMAC-SHA256(key, value as text), hex; nulls stay null."""

    def token(value: object) -> str:
        return hmac.new(key, cell_text(value).encode("utf-8"), hashlib.sha256).hexdigest()

    distinct = series.dropna().unique()
    return series.map({value: token(value) for value in distinct}, na_action="ignore").astype("string")


def _zip_prefix(series: pd.Series, rule: Generalization, released: CategoricalColumn) -> pd.Series:
    text = series.astype("string").str.strip()
    prefix = text.str[: rule.zip_prefix]
    prefix = prefix.where(prefix.str.fullmatch(r"\d+") & (prefix.str.len() == rule.zip_prefix))
    if released.categories is None:
        return prefix.astype("string")
    return pd.Series(pd.Categorical(prefix, categories=list(released.categories)), index=series.index)


def _bands(series: pd.Series, edges: tuple[float, ...], labels: tuple[str, ...]) -> pd.Series:
    values = pd.to_numeric(series, errors="coerce").astype("float64").to_numpy()
    codes = np.searchsorted(np.asarray(edges), values, side="right") - 1
    codes = np.where(values == edges[-1], len(labels) - 1, codes)  # the last band is closed
    codes = np.where(np.isnan(values) | (codes < 0) | (codes >= len(labels)), -1, codes)
    return pd.Series(pd.Categorical.from_codes(codes, categories=list(labels)), index=series.index)


def generalize(series: pd.Series, rule: Generalization, released: ColumnSpec) -> pd.Series:
    """The coarsened column, typed as `released` (its entry in `output_schema`) says."""
    if rule.to == "year":
        return pd.to_datetime(series).dt.year.astype("Int64")
    if rule.to == "month":
        return pd.to_datetime(series).dt.to_period("M").dt.to_timestamp()
    if rule.zip_prefix is not None:
        return _zip_prefix(series, rule, released)
    return _bands(series, rule.bands, released.categories)


def _chunks(text: str) -> list[str]:
    pieces = []
    while len(text) > REDACT_CHUNK_CHARS:
        cut = text.rfind(" ", 0, REDACT_CHUNK_CHARS)
        cut = cut if cut > 0 else REDACT_CHUNK_CHARS
        pieces.append(text[:cut])
        text = text[cut:]
    return [*pieces, text]


def redact(series: pd.Series, *, analyzer) -> tuple[pd.Series, dict]:
    """Every entity the analyzer finds (at the scan's threshold) replaced by `<ENTITY_TYPE>`; counts of cells
    changed and of entities replaced, per type."""
    from presidio_analyzer import BatchAnalyzerEngine
    from presidio_anonymizer import AnonymizerEngine

    anonymizer = AnonymizerEngine()
    batch = BatchAnalyzerEngine(analyzer)
    entities = Counter()
    distinct = [str(v) for v in series.dropna().unique()]
    pieces = {text: _chunks(text) for text in distinct}
    flat = [piece for text in distinct for piece in pieces[text]]
    results = iter(batch.analyze_iterator(flat, language=LANGUAGE, batch_size=32, score_threshold=SCORE_THRESHOLD))
    replaced = {}
    for text in distinct:
        out = []
        for piece in pieces[text]:
            hits = next(results)
            result = anonymizer.anonymize(text=piece, analyzer_results=hits) if hits else None
            out.append(result.text if result else piece)
            entities.update(item.entity_type for item in (result.items if result else ()))
        replaced[text] = "".join(out)
    redacted = series.map(lambda v: replaced[str(v)], na_action="ignore").astype("string")
    changed = int((series.notna() & (redacted != series.astype("string"))).sum())
    return redacted, {"cells_changed": changed, "entities": dict(sorted(entities.items()))}


def apply_actions(
    table: pd.DataFrame, schema: Mapping[str, ColumnSpec], pii: PiiSpec, *, key: bytes | None, analyzer,
) -> tuple[pd.DataFrame, dict]:
    """The table after every declared action, typed as `output_schema(schema, pii)`; and what was done (counts)."""
    released = output_schema(schema, pii)
    columns, summary = {}, {"dropped": [], "pseudonymized": [], "generalized": {}, "redacted": {}, "kept": []}
    for name in table.columns:
        rule = pii.columns.get(name)
        action = rule.action if rule is not None else "keep"
        if action == "drop":
            summary["dropped"].append(name)
            continue
        values = table[name]
        if action == "pseudonymize":
            if key is None:  # run_pii_scan resolves the key before it reads any data
                raise ConfigError(f"pii.columns.{name}: pseudonymize needs the key named in pii.key")
            columns[name] = pseudonymize(values, key=key)
            summary["pseudonymized"].append(name)
        elif action == "generalize":
            columns[name] = generalize(values, rule.generalize, released[name])
            nulled = int((columns[name].isna() & values.notna()).sum())
            summary["generalized"][name] = {"rule": rule.generalize.model_dump(exclude_none=True), "nulled": nulled}
        elif action == "redact":
            columns[name], summary["redacted"][name] = redact(values, analyzer=analyzer)
        else:
            columns[name] = values
            summary["kept"].append(name)
    return pd.DataFrame(columns, index=table.index), summary


def _conforms(series: pd.Series, spec: ColumnSpec) -> bool:
    dtype = series.dtype
    if isinstance(spec, NumericColumn):
        return str(dtype) == ("Int64" if spec.type == "integer" else "Float64")
    if isinstance(spec, CategoricalColumn):
        if spec.categories is None:
            return isinstance(dtype, pd.StringDtype)
        return isinstance(dtype, pd.CategoricalDtype) and tuple(dtype.categories) == spec.categories
    if isinstance(spec, BooleanColumn):
        return str(dtype) == "boolean"
    if isinstance(spec, DatetimeColumn):
        return pd.api.types.is_datetime64_dtype(dtype)
    if isinstance(spec, StringColumn):
        return isinstance(dtype, pd.StringDtype)
    return False


def schema_mismatches(table: pd.DataFrame, schema: Mapping[str, ColumnSpec]) -> list[str]:
    """Where a table's columns or dtypes differ from a schema (as the harmonizer types them); empty when they agree."""
    problems = []
    if list(table.columns) != list(schema):
        problems.append(f"columns {list(table.columns)} != schema {list(schema)}")
    for name in set(table.columns) & set(schema):
        if not _conforms(table[name], schema[name]):
            problems.append(f"{name}: dtype {table[name].dtype} does not fit a {schema[name].type} column")
        if not schema[name].nullable and table[name].isna().any():
            problems.append(f"{name}: nulls in a column declared not nullable")
    return problems
