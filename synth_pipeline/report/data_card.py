"""The public data card: what a release is, how it was made and what its guarantee is.

Everything here is public or DP: the spec's own text and declared domain, the generator, the (epsilon, delta) the
spec allows and what the accountant says was spent, gate verdicts (pass/fail), and statistics computed on the
SYNTHETIC table only (post-processing of a DP output).
Nothing is computed from the real data, so the card can travel with the release.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from html import escape
from pathlib import Path

import pandas as pd

from synth_pipeline.publish import CSV_ESCAPING
from synth_pipeline.report import html, svg
from synth_pipeline.runs import read_json, write_json
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
CARD_JSON, CARD_HTML = "data_card.json", "data_card.html"
# What `render_data_card` reads from every card (newer sections are shown when present).
_RENDERED = ("release", "description", "purpose", "retention_days", "rows", "columns", "not_released", "generator",
             "privacy", "gates")


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


def guarantee(epsilon: float, delta: float, unit: str) -> str:
    """What differential privacy promises for this release, and what it does not, in plain words."""
    return (f"This release is ({epsilon:g}, {delta:g})-differentially private, with {unit} as the unit of privacy: "
            f"adding or removing any one unit in the source data changes the probability of any output of the "
            f"pipeline (this table, this card) by at most a factor of e^{epsilon:g} (about {math.exp(epsilon):.3g}), "
            f"except with probability at most {delta:g}. Every row is sampled from a model trained under that "
            "guarantee; no row is copied from the source. DP does not promise that no synthetic row resembles a real "
            "person: a row may match someone by chance, as it would from a model trained without them. The "
            "statistics on this card are computed on the synthetic table itself.")


def how_to_load(release: str, *, version: str, location: str) -> str:
    """Python that loads this release through the catalog, which checks the signature, checksums and expiry."""
    return ("from synth_pipeline import catalog\n\n"
            f"table = catalog.load(release={release!r}, version={version!r}, location={location!r})\n"
            f"card = catalog.data_card(release={release!r}, version={version!r}, location={location!r})")


def limitations(spec: ReleaseSpec, *, generator: Mapping, not_released: Mapping[str, str],
                estimated: Mapping[str, str], gates: Mapping[str, bool]) -> dict[str, list[str]]:
    """What the release is not fit for, and its known weaknesses, from public facts only: the spec, the generator's
    declared parameters, which domains were estimated under DP, and the checks' verdicts (never their figures)."""
    not_fit = [
        "Decisions about individual people, or finding, contacting or singling out anyone: rows are sampled from a "
        "model, and a row that looks like a real person does so by chance.",
        "Linking to other data at row level: a synthetic row that matches a record elsewhere is not that record.",
        "Rare events, outliers and small subgroups: the privacy noise has the same size whatever the group, so "
        "figures over few rows are mostly noise.",
        "Values outside the public domain declared for each column (see Columns): the model cannot produce them.",
        f"Uses other than the stated purpose ({spec.purpose.strip().rstrip('.')}).",
    ]
    if not_released:
        not_fit.append(f"Analyses that need the columns left out of this release: {', '.join(sorted(not_released))}.")
    params = generator.get("params") or {}
    weak = []
    if "workload_ways" in params:
        weak.append(f"The generator measured combinations of at most {params['workload_ways']} columns; relations "
                    "among more columns come from the model's inference, not from measurements.")
    if "numeric_bins" in params:
        weak.append(f"Wide numeric and date columns were modelled in {params['numeric_bins']} bins; detail within "
                    "a bin is not preserved.")
    if estimated:
        weak.append(f"The domains of {', '.join(sorted(estimated))} were estimated under DP: rare categories and "
                    "extreme values may be missing.")
    weak.append("The row count is " + (f"fixed by the spec ({spec.publish.rows:,})" if spec.publish.rows else
                                       "a DP estimate of the source table's size") + ", not the true count.")
    failed = sorted(name for name, passed in gates.items() if not passed)
    weak.append(f"Checks that did not pass: {', '.join(failed)}. This run must not be used." if failed else
                "Every automatic check passed. Their fidelity and risk figures compare the synthetic table with the "
                "real one and are not differentially private, so only their verdicts are published.")
    return {"not_fit_for": not_fit, "known_weaknesses": weak}


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
    composition and mechanisms); `estimated` describes the domains estimated under DP (themselves DP outputs).
    The version and dates are publication's (`published_card`): a run folder's card is a draft."""
    unit = spec.privacy_unit
    unit_text = ("one row" if unit == "row" else
                 f"one individual (column {unit.key!r}, at most {unit.max_rows} rows each)" if isinstance(unit, UnitKey) else str(unit))
    return {
        "release": spec.name,
        "version": None,
        "created_at": None,
        "expires_at": None,
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
        "limitations": limitations(spec, generator=generator, not_released=not_released, estimated=estimated,
                                   gates=gates),
        # What each published file holds; how CSV text cells were escaped against spreadsheet formulas.
        "files": {"synthetic.parquet": "the synthetic table, values unchanged",
                  **({"synthetic.csv": CSV_ESCAPING} if "csv" in spec.publish.formats else {})},
        "location": spec.publish.uri,
        "guarantee": guarantee(spec.privacy.epsilon, spec.privacy.delta, unit_text),
        "how_to_load": how_to_load(spec.name, version="latest", location=spec.publish.uri),
    }


def published_card(card: Mapping, *, version: str, created_at: datetime, expires_at: datetime) -> dict:
    """The run's card as publication releases it: with its version, dates and a snippet that loads that version."""
    stamped = {**card, "version": version, "created_at": created_at.isoformat(), "expires_at": expires_at.isoformat()}
    if "location" in card:  # cards of runs from before the snippet have none
        stamped["how_to_load"] = how_to_load(card["release"], version=version, location=card["location"])
    return stamped


def published_files(card_dir: Path, out: Path, *, version: str, created_at: datetime,
                    expires_at: datetime) -> dict[str, Path]:
    """The card files to publish, by name: the run's card stamped by `published_card` and its page rendered again,
    written under `out`. A card without what the page shows (not one `build_data_card` wrote) keeps its page."""
    card = published_card(read_json(card_dir / CARD_JSON), version=version, created_at=created_at,
                          expires_at=expires_at)
    write_json(out / CARD_JSON, card)
    if not all(key in card for key in _RENDERED):
        return {CARD_JSON: out / CARD_JSON, CARD_HTML: card_dir / CARD_HTML}
    (out / CARD_HTML).write_text(render_data_card(card), encoding="utf-8")
    return {CARD_JSON: out / CARD_JSON, CARD_HTML: out / CARD_HTML}


def _readable(value: object) -> object:
    """A privacy figure or parameter as a table cell: numbers stay numbers (the table formats them); lists and
    mappings (the mechanisms, the estimation's share) become one line of text."""
    if isinstance(value, Mapping):
        return ", ".join(f"{key} {_word(item)}" for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return "; ".join(_word(item) for item in value)
    return value


def _word(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(_readable(value))


def _generator(generator: Mapping) -> str:
    params = generator.get("params") or {}
    rows = [[name, _readable(value)] for name, value in sorted(params.items()) if value is not None]
    return html.section("Generator", html.paragraph(f"Model: {generator.get('name')}"),
                        html.table(["parameter", "value"], rows) if rows else "",
                        note="Fixed in the spec before any data was read; unset parameters take the generator's "
                             "defaults.")


def _limitations(card: Mapping) -> str:
    found = card.get("limitations") or {}
    lists = [(heading, found.get(key)) for heading, key in (("Not fit for", "not_fit_for"),
                                                            ("Known weaknesses", "known_weaknesses"))]
    body = "".join(f"<h3>{heading}</h3><ul>" + "".join(f"<li>{escape(item)}</li>" for item in items) + "</ul>"
                   for heading, items in lists if items)
    return html.section("Limitations", body) if body else ""


def render_data_card(card: Mapping) -> str:
    columns = card["columns"]
    charts = []
    for name, info in columns.items():
        shares = info["statistics"].get("shares")
        if shares:
            charts.append(svg.grouped_bars(list(shares), {"synthetic": list(shares.values())}, title=name,
                                           colors=(svg.SYNTHETIC,), width=300, height=200))
    privacy = card["privacy"]
    version = card.get("version") or "draft: not published yet"
    created = card["created_at"][:10] if card.get("created_at") else "set at publication"
    sections = [
        html.section("About this release", html.paragraph(card["description"]),
                     html.paragraph(f"Purpose: {card['purpose']}"),
                     html.kpis([("version", version), ("created", created), ("rows", f"{card['rows']:,}"),
                                ("epsilon", f"{privacy['epsilon']:g}"), ("epsilon spent", f"{privacy['epsilon_spent']:.4g}"),
                                ("delta", f"{privacy['delta']:g}"),
                                ("expires", card["expires_at"][:10] if card.get("expires_at") else
                                 f"{card['retention_days']} days after publication")])),
        html.section("Privacy guarantee", html.paragraph(card.get("guarantee") or ""),
                     html.table(["", ""], [[k, _readable(v)] for k, v in privacy.items()])),
        _limitations(card),
        _generator(card["generator"]),
        html.section("Columns", html.table(
            ["column", "type", "nullable", "domain", "synthetic null share", "description"],
            [[n, i["type"], i["nullable"], i["domain"], i["statistics"]["null_share"], i["description"]]
             for n, i in columns.items()])),
        html.section("Gates passed before release",
                     html.table(["check", "verdict"], [[k, html.Raw(html.badge(v))] for k, v in card["gates"].items()])),
    ]
    if card.get("how_to_load"):
        sections.append(html.section("How to load it", f"<pre><code>{escape(card['how_to_load'])}</code></pre>",
                                     note="The catalog checks the release's signature, checksums and expiry first."))
    if card.get("files"):  # cards of runs from before the escaping say nothing of it
        sections.append(html.section("Files", html.table(["file", "what it holds"], sorted(card["files"].items()))))
    if card["not_released"]:
        sections.append(html.section("Not in this release", html.table(
            ["column", "why"], sorted(card["not_released"].items()))))
    if charts:
        sections.append(html.section("Synthetic distributions", '<div class="grid">' + "".join(charts) + "</div>",
                                     note="Computed on the synthetic table only."))
    return html.page(f"Data card: {card['release']}", card["purpose"], sections)
