"""Small inline SVG charts: the reports must render offline (no CDN, no JavaScript), so plots are drawn here.

Every label is escaped; charts take already-aggregated figures (shares per bin, gated figures), never rows. Axes
and series are labelled, tick labels never overlap (they stand upright, and only every k-th is written when the
bars are narrow), and a small non-zero figure gets a visible bar and its value written beside it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

REAL = "#4c72b0"
SYNTHETIC = "#dd8452"
PASSED = "#4c72b0"
FAILED = "#c44e52"
GATE = "#222"
_FONT = 'font-family="system-ui, sans-serif" font-size="11"'
_CHAR_W = 6.2  # px a character takes at font-size 11 (room for labels is reserved from it)
_LINE_H = 13  # px between upright tick labels: closer ones would overlap
_MIN_BAR = 2.0  # px: a non-zero figure is never drawn as nothing


def _label(text: str, limit: int = 18) -> str:
    return escape(text if len(text) <= limit else text[: limit - 1] + "…")


def _open(width: float, height: float, title: str) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" role="img" '
            f'aria-label="{escape(title)}" {_FONT}>', f'<text x="4" y="14" font-weight="600">{escape(title)}</text>']


def _legend(entries: Sequence[tuple[str, str]], *, x: float, y: float) -> str:
    """Coloured squares and names on one line, left to right from (x, y)."""
    parts = []
    for name, color in entries:
        parts.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{color}"/>'
                     f'<text x="{x + 14:.1f}" y="{y:.1f}">{escape(name)}</text>')
        x += 26 + len(name) * _CHAR_W
    return "".join(parts)


def _bar_length(value: float, scale: float) -> float:
    length = scale * max(value, 0.0)
    return max(length, _MIN_BAR) if value > 0 else 0.0


def nice_ticks(peak: float, count: int = 4) -> list[float]:
    """Round tick values from 0 to at least `peak` (1, 2 or 5 times a power of ten apart)."""
    peak = peak if peak > 0 else 1.0
    raw = peak / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw - 1e-12)
    return [round(i * step, 12) for i in range(math.ceil(peak / step - 1e-9) + 1)]


def grouped_bars(
    labels: Sequence[str], series: Mapping[str, Sequence[float]], *, title: str, y_label: str = "share of rows",
    colors: Sequence[str] = (REAL, SYNTHETIC), width: int = 460, height: int = 220,
) -> str:
    """Vertical bars per label, one bar per series (e.g. real and synthetic shares per bin), with a legend and a
    labelled y axis. Tick labels stand upright; when bars are narrower than a line, every k-th label is written."""
    left, right, top = 52, 10, 38
    group_w = (width - left - right) / max(len(labels), 1)
    every = max(1, math.ceil(_LINE_H / group_w))
    shown = [str(label) for label in labels[::every]]
    bottom = 10 + _CHAR_W * max((min(len(label), 18) for label in shown), default=0)
    plot_h = max(height - top - 58, 80)  # the same for every chart of a size, however long its labels
    height = top + plot_h + bottom
    ticks = nice_ticks(max((v for values in series.values() for v in values), default=0.0))
    scale = plot_h / ticks[-1]
    bar_w = max(group_w * 0.8 / max(len(series), 1), 1.0)
    base = top + plot_h
    parts = _open(width, height, title)
    parts.append(_legend([(name, colors[i % len(colors)]) for i, name in enumerate(series)], x=left, y=30))
    for tick in ticks:
        y = base - tick * scale
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>')
    parts.append(f'<text transform="translate(12,{top + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle">'
                 f'{escape(y_label)}</text>')
    for index, label in enumerate(labels):
        x0 = left + index * group_w + group_w * 0.1
        for offset, (name, values) in enumerate(series.items()):
            value = values[index]
            h = _bar_length(value, scale)
            parts.append(f'<rect x="{x0 + offset * bar_w:.1f}" y="{base - h:.1f}" width="{bar_w:.1f}" '
                         f'height="{h:.1f}" fill="{colors[offset % len(colors)]}"><title>{escape(name)} '
                         f'{escape(str(label))}: {value:.3g}</title></rect>')
        if index % every == 0:
            cx = left + (index + 0.5) * group_w
            parts.append(f'<text transform="translate({cx + 4:.1f},{base + 6}) rotate(-90)" text-anchor="end">'
                         f'{_label(str(label))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def gate_chart(figures: Sequence[Mapping], *, title: str, x_label: str = "value of the figure", width: int = 640) -> str:
    """One row per gated figure (`name`, `value`, `limit`, `direction` "max"/"min", `passed`, optional `interval`),
    all on one axis: the figure's bar coloured by its verdict, its confidence interval as a whisker, its own gate as a
    black mark, and the value and gate written at the end of the row."""
    row_h, top = 22, 38
    left = 12 + _CHAR_W * min(max((len(str(f["name"])) for f in figures), default=4), 30)
    plot_w = width - left - 170
    ticks = nice_ticks(max([v for f in figures for v in (f["value"], f["limit"], *(f.get("interval") or ()))]
                           or [0.0]))
    scale = plot_w / ticks[-1]
    base = top + row_h * len(figures)
    parts = _open(width, base + 40, title)
    parts.append(_legend([("passed", PASSED), ("failed", FAILED), ("its gate", GATE)], x=left, y=30))
    for tick in ticks:
        x = left + tick * scale
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{base}" stroke="#eee"/>'
                     f'<text x="{x:.1f}" y="{base + 14}" text-anchor="middle">{tick:g}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{base + 32}" text-anchor="middle">{escape(x_label)}</text>')
    for index, figure in enumerate(figures):
        y = top + index * row_h
        value, limit = figure["value"], figure["limit"]
        bar = _bar_length(value, scale)
        gate_x = left + limit * scale
        relation = "≤" if figure["direction"] == "max" else "≥"
        parts.append(f'<text x="{left - 6:.1f}" y="{y + 15}" text-anchor="end">{_label(str(figure["name"]), 30)}'
                     f'</text><rect x="{left:.1f}" y="{y + 5}" width="{bar:.1f}" height="{row_h - 10}" '
                     f'fill="{PASSED if figure["passed"] else FAILED}"/>')
        interval = figure.get("interval")
        if interval:
            parts.append(f'<line x1="{left + max(interval[0], 0.0) * scale:.1f}" x2="{left + interval[1] * scale:.1f}" '
                         f'y1="{y + 11}" y2="{y + 11}" stroke="{GATE}"><title>interval {interval[0]:.3g} to '
                         f'{interval[1]:.3g}</title></line>')
        parts.append(f'<rect x="{gate_x - 1.5:.1f}" y="{y + 1}" width="3" height="{row_h - 2}" fill="{GATE}">'
                     f'<title>gate {relation} {limit:g}</title></rect>'
                     f'<text x="{left + plot_w + 8:.1f}" y="{y + 15}">{value:.3g} (gate {relation} {limit:.3g})</text>')
    parts.append("</svg>")
    return "".join(parts)
