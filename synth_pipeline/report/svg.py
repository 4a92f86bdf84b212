"""Small inline SVG charts: the reports must render offline (no CDN, no JavaScript), so plots are drawn here.

Every label is escaped; charts take already-aggregated figures (shares per bin), never rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

REAL = "#4c72b0"
SYNTHETIC = "#dd8452"
_FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def _label(text: str, limit: int = 18) -> str:
    return escape(text if len(text) <= limit else text[: limit - 1] + "…")


def grouped_bars(
    labels: Sequence[str], series: Mapping[str, Sequence[float]], *, title: str, colors: Sequence[str] = (REAL, SYNTHETIC),
    width: int = 460, height: int = 220,
) -> str:
    """Vertical bars per label, one bar per series (e.g. real and synthetic shares per bin)."""
    left, right, top, bottom = 40, 10, 24, 58
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((v for values in series.values() for v in values), default=0.0) or 1.0
    group_w = plot_w / max(len(labels), 1)
    bar_w = max(group_w * 0.8 / max(len(series), 1), 1.0)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(title)}" {_FONT}>',
             f'<text x="{left}" y="14" font-weight="600">{escape(title)}</text>']
    for tick in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - tick)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{peak * tick:.2f}</text>')
    for index, label in enumerate(labels):
        x0 = left + index * group_w + group_w * 0.1
        for offset, (name, values) in enumerate(series.items()):
            value = values[index]
            h = plot_h * value / peak
            parts.append(f'<rect x="{x0 + offset * bar_w:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w:.1f}" '
                         f'height="{h:.1f}" fill="{colors[offset % len(colors)]}"><title>{escape(name)} '
                         f'{escape(label)}: {value:.3f}</title></rect>')
        if len(labels) <= 24:
            cx = left + (index + 0.5) * group_w
            parts.append(f'<text transform="translate({cx:.1f},{top + plot_h + 8}) rotate(45)">{_label(label)}</text>')
    for offset, name in enumerate(series):
        x = width - right - 75 * len(series) + offset * 75
        parts.append(f'<rect x="{x}" y="5" width="10" height="10" fill="{colors[offset % len(colors)]}"/>'
                     f'<text x="{x + 14}" y="14">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def horizontal_bars(values: Mapping[str, float], *, title: str, limit: float | None = None, width: int = 460) -> str:
    """One bar per named figure, with an optional threshold line (a gate)."""
    row_h, left, top = 20, 215, 24
    height = top + row_h * max(len(values), 1) + 10
    peak = max([*values.values(), limit or 0.0, 1e-9])
    plot_w = width - left - 50
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(title)}" {_FONT}>', f'<text x="4" y="14" font-weight="600">{escape(title)}</text>']
    for index, (name, value) in enumerate(values.items()):
        y = top + index * row_h
        w = plot_w * max(value, 0.0) / peak
        parts.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">{_label(name, 28)}</text>'
                     f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" fill="{REAL}"/>'
                     f'<text x="{left + w + 4:.1f}" y="{y + 13}">{value:.3f}</text>')
    if limit is not None:
        x = left + plot_w * limit / peak
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{height - 6}" stroke="#c44e52" '
                     f'stroke-dasharray="4 3"><title>gate {limit}</title></line>')
    parts.append("</svg>")
    return "".join(parts)
