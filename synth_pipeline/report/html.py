"""One self-contained HTML page: inline CSS, inline SVG, no scripts, no external resources (offline machines)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#222;background:#f6f7f9}
header{background:#1f2d3d;color:#fff;padding:18px 32px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#c9d3de}main{padding:16px 32px;max-width:1100px}
section{background:#fff;border:1px solid #e3e6ea;border-radius:6px;padding:12px 18px;margin:14px 0}
h2{font-size:17px;margin:4px 0 10px}h3{font-size:14px;margin:12px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:4px 0}td,th{border-bottom:1px solid #eceff2;padding:4px 10px;
text-align:left;vertical-align:top}th{color:#555;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{background:#e3f4e8;color:#1b6b34}.fail{background:#fbe4e4;color:#a12727}.info{background:#eef1f5;color:#44505c}
.badge{display:inline-block;border-radius:10px;padding:1px 9px;font-size:12px;font-weight:600}
.grid{display:flex;flex-wrap:wrap;gap:10px}.note{color:#666;font-size:12px}
.kpis{display:flex;flex-wrap:wrap;gap:12px}.kpi{border:1px solid #e3e6ea;border-radius:6px;padding:8px 14px;min-width:130px}
.kpi b{display:block;font-size:20px}details{margin:4px 0}summary{cursor:pointer;color:#1f4e79}.kpi span{color:#666;font-size:12px}
"""


def page(title: str, subtitle: str, sections: Iterable[str]) -> str:
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
            f"<header><h1>{escape(title)}</h1><p>{escape(subtitle)}</p></header><main>{''.join(sections)}</main>"
            "</body></html>")


def section(heading: str, *body: str, note: str = "") -> str:
    extra = f'<p class="note">{escape(note)}</p>' if note else ""
    return f"<section><h2>{escape(heading)}</h2>{''.join(body)}{extra}</section>"


def badge(passed: bool | None, text: str | None = None) -> str:
    kind = "info" if passed is None else "pass" if passed else "fail"
    label = text or {"info": "n/a", "pass": "pass", "fail": "FAIL"}[kind]
    return f'<span class="badge {kind}">{escape(label)}</span>'


def cell(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return f"<td>{escape(str(value))}</td>"
    if isinstance(value, float):
        return f'<td class="num">{value:.4g}</td>'
    if isinstance(value, int):
        return f'<td class="num">{value:,}</td>'
    if isinstance(value, Raw):
        return f"<td>{value.html}</td>"
    return f"<td>{escape(str(value))}</td>"


class Raw:
    """Markup that is already safe (a badge, a chart), placed in a table cell as it is."""

    def __init__(self, html: str):
        self.html = html


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def kpis(items: Iterable[tuple[str, str]]) -> str:
    return '<div class="kpis">' + "".join(f'<div class="kpi"><b>{escape(v)}</b><span>{escape(k)}</span></div>'
                                          for k, v in items) + "</div>"


def details(summary: str, body: str) -> str:
    """A section the reader opens on demand (plain HTML, no script)."""
    return f"<details><summary>{escape(summary)}</summary>{body}</details>"


def paragraph(text: str) -> str:
    return f"<p>{escape(text)}</p>"
