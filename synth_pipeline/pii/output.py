"""The schema of the table after the PII actions: what later stages (DP domain encoding, evaluation) see.

Pure and public: every bound and category here comes from the spec (the declared domain and the rules), none from
the data. Pseudonyms and redacted text are strings, which no generator models or releases.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from synth_pipeline.spec import (
    CategoricalColumn,
    ColumnSpec,
    DatetimeColumn,
    Generalization,
    NumericColumn,
    PiiSpec,
    StringColumn,
)


def band_labels(edges: tuple[float, ...]) -> tuple[str, ...]:
    """[b0, b1), [b1, b2), ..., [b(n-1), bn]: the last band is closed so the declared maximum has a band."""

    def edge(value: float) -> str:
        return str(int(value)) if float(value).is_integer() else repr(float(value))

    pairs = list(zip(edges, edges[1:]))
    closing = [")"] * (len(pairs) - 1) + ["]"]
    return tuple(f"[{edge(low)}, {edge(high)}{end}" for (low, high), end in zip(pairs, closing))


def _month_start(iso: str) -> str:
    moment = datetime.fromisoformat(iso)
    return f"{moment.year:04d}-{moment.month:02d}-01"


def generalized_column(column: ColumnSpec, rule: Generalization) -> ColumnSpec:
    """The declared domain of a generalized column, derived from its own declared domain and the rule only."""
    common = {"nullable": column.nullable, "description": column.description}
    if rule.to is not None:
        if not isinstance(column, DatetimeColumn):
            raise ValueError(f"'to: {rule.to}' generalizes dates; the column is {column.type}")
        if rule.to == "year":
            low, high = datetime.fromisoformat(column.min).year, datetime.fromisoformat(column.max).year
            return NumericColumn(type="integer", min=low, max=high, **common)
        return DatetimeColumn(type="datetime", min=_month_start(column.min), max=_month_start(column.max), **common)
    if rule.zip_prefix is not None:
        if not isinstance(column, (StringColumn, CategoricalColumn)):
            raise ValueError(f"zip_prefix needs ZIP codes held as text (leading zeros); the column is {column.type}")
        # A value without a full numeric prefix (or with one outside the public list) becomes null, so the column
        # may hold nulls whatever the source did.
        if rule.categories is None:
            # The prefixes seen would be read off the data: they must be estimated under DP before release, and
            # rows in a prefix too rare to be released become null (rejecting them would fail after the charge).
            return CategoricalColumn(type="categorical", max_categories=10**rule.zip_prefix, out_of_domain="null",
                                     nullable=True, description=column.description)
        return CategoricalColumn(type="categorical", categories=rule.categories, out_of_domain="null",
                                 nullable=True, description=column.description)
    if not isinstance(column, NumericColumn):
        raise ValueError(f"bands generalize numbers; the column is {column.type}")
    if rule.bands[0] > column.min or rule.bands[-1] < column.max:
        raise ValueError(f"bands [{rule.bands[0]:g}, {rule.bands[-1]:g}] do not cover the declared "
                         f"domain [{column.min:g}, {column.max:g}]")
    return CategoricalColumn(type="categorical", categories=band_labels(rule.bands), **common)


def output_schema(schema: Mapping[str, ColumnSpec], pii: PiiSpec) -> dict[str, ColumnSpec]:
    """The released table's schema: dropped columns gone, pseudonyms and redactions as strings, generalized
    columns on their derived public domain, everything else as declared."""
    released: dict[str, ColumnSpec] = {}
    for name, column in schema.items():
        rule = pii.columns.get(name)
        if rule is None or rule.action == "keep":
            released[name] = column
        elif rule.action in ("pseudonymize", "redact"):
            released[name] = StringColumn(type="string", nullable=column.nullable, description=column.description)
        elif rule.action == "generalize":
            released[name] = generalized_column(column, rule.generalize)
    return released
