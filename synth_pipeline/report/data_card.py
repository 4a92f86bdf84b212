"""The public data card: what a release is, how it was made and what its guarantee is.

Everything here is public or DP: the spec's own text and declared domain, the generator, the (epsilon, delta) the
spec allows and what the accountant says was spent, gate verdicts (pass/fail), and statistics computed on the
SYNTHETIC table only (post-processing of a DP output).
Nothing is computed from the real data, so the card can travel with the release.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from synth_pipeline.publish import CSV_ESCAPING
from synth_pipeline.report import html, svg
from synth_pipeline.spec import (
    BooleanColumn,
    CategoricalColumn,
    ColumnSpec,
    DatetimeColumn,
    NumericColumn,
    ReleaseSpec,
    UnitKey,
)

_TOP = 12


def _domain(column: ColumnSpec) -> str:
    if isinstance(column, NumericColumn):
        return f"{column.min:g} .. {column.max:g}"
    if isinstance(column, DatetimeColumn):
        return f"{column.min} .. {column.max}"
    if isinstance(column, CategoricalColumn):
        levels = column.categories or ()
        return f"{len(levels)} categories"
    if isinstance(column, BooleanColumn):
        return "true / false"
    return "free text"


def column_statistics(series: pd.Series, column: ColumnSpec) -> dict:
    """Synthetic-only summary of one column."""
    stats: dict = {"null_share": round(float(series.isna().mean()), 4) if len(series) else 0.0}
    present = series.dropna()
    if isinstance(column, NumericColumn) and len(present):
        values = present.astype(float)
        stats.update(mean=round(float(values.mean()), 4), std=round(float(values.std(ddof=0)), 4),
                     quantiles={str(q): round(float(values.quantile(q)), 4) for q in (0.05, 0.25, 0.5, 0.75, 0.95)})
    elif isinstance(column, DatetimeColumn) and len(present):
        stamps = pd.to_datetime(present)
        stats.update(min=str(stamps.min()), median=str(stamps.quantile(0.5)), max=str(stamps.max()))
    elif isinstance(column, (CategoricalColumn, BooleanColumn)) and len(present):
        shares = present.astype(str).value_counts(normalize=True)
        stats["shares"] = {str(k): round(float(v), 4) for k, v in shares.head(_TOP).items()}
        stats["levels_shown"] = min(len(shares), _TOP)
    return stats


def build_data_card(
    spec: ReleaseSpec,
    *,
    released_schema: Mapping[str, ColumnSpec],
    not_released: Mapping[str, str],
    synthetic: pd.DataFrame,
    generator: Mapping,
    privacy: Mapping,
    gates: Mapping[str, bool],
    estimated: Mapping[str, str],
) -> dict:
    """The card as JSON-ready data. `privacy` holds what the accountant reported for this run (the spend, its
    composition and mechanisms); `estimated` describes the domains estimated under DP (themselves DP outputs)."""
    unit = spec.privacy_unit
    unit_text = ("one row" if unit == "row" else
                 f"one individual (column {unit.key!r}, at most {unit.max_rows} rows each)" if isinstance(unit, UnitKey) else str(unit))
    return {
        "release": spec.name,
        "description": spec.description,
        "purpose": spec.purpose,
        "owner": spec.owner,
        "retention_days": spec.retention_days,
        "rows": len(synthetic),
        "columns": {
            name: {"type": column.type, "nullable": column.nullable, "domain": estimated.get(name) or _domain(column),
                   "description": column.description, "statistics": column_statistics(synthetic[name], column)}
            for name, column in released_schema.items() if name in synthetic.columns
        },
        "not_released": dict(not_released),
        "generator": dict(generator),
        "privacy": {"epsilon": spec.privacy.epsilon, "delta": spec.privacy.delta, "unit": unit_text, **privacy},
        "gates": dict(gates),
        # What each published file holds; how CSV text cells were escaped against spreadsheet formulas.
        "files": {"synthetic.parquet": "the synthetic table, values unchanged",
                  **({"synthetic.csv": CSV_ESCAPING} if "csv" in spec.publish.formats else {})},
        "how_to_read": (
            "Every row is synthetic: drawn from a model trained with differential privacy, so no row describes a "
            "real person and the guarantee bounds what the release reveals about anyone in the source data. "
            "The statistics on this card are computed on the synthetic table itself."
        ),
    }


def _readable(value: object) -> object:
    """A privacy figure as a table cell: numbers stay numbers (the table formats them); lists and mappings (the
    mechanisms, the estimation's share) become one line of text."""
    if isinstance(value, Mapping):
        return ", ".join(f"{key} {_word(item)}" for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return "; ".join(_word(item) for item in value)
    return value


def _word(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(_readable(value))


def render_data_card(card: Mapping) -> str:
    columns = card["columns"]
    charts = []
    for name, info in columns.items():
        shares = info["statistics"].get("shares")
        if shares:
            charts.append(svg.grouped_bars(list(shares), {"synthetic": list(shares.values())}, title=name,
                                           colors=(svg.SYNTHETIC,), width=300, height=200))
    privacy = card["privacy"]
    sections = [
        html.section("About this release", html.paragraph(card["description"]),
                     html.paragraph(f"Purpose: {card['purpose']}"),
                     html.kpis([("rows", f"{card['rows']:,}"), ("epsilon", f"{privacy['epsilon']:g}"),
                                ("epsilon spent", f"{privacy['epsilon_spent']:.4g}"), ("delta", f"{privacy['delta']:g}"),
                                ("kept for", f"{card['retention_days']} days")])),
        html.section("Privacy guarantee", html.table(["", ""], [[k, _readable(v)] for k, v in privacy.items()]),
                     html.paragraph(card["how_to_read"])),
        html.section("Generator", html.table(["", ""], [[k, str(v)] for k, v in card["generator"].items()])),
        html.section("Columns", html.table(
            ["column", "type", "nullable", "domain", "synthetic null share", "description"],
            [[n, i["type"], i["nullable"], i["domain"], i["statistics"]["null_share"], i["description"]]
             for n, i in columns.items()])),
        html.section("Gates passed before release",
                     html.table(["check", "verdict"], [[k, html.Raw(html.badge(v))] for k, v in card["gates"].items()])),
    ]
    if card.get("files"):  # cards of runs from before the escaping say nothing of it
        sections.append(html.section("Files", html.table(["file", "what it holds"], sorted(card["files"].items()))))
    if card["not_released"]:
        sections.append(html.section("Not in this release", html.table(
            ["column", "why"], sorted(card["not_released"].items()))))
    if charts:
        sections.append(html.section("Synthetic distributions", '<div class="grid">' + "".join(charts) + "</div>",
                                     note="Computed on the synthetic table only."))
    return html.page(f"Data card: {card['release']}", card["purpose"], sections)
