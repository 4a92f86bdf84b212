"""The reports' inline SVG charts (issue 14, item 6): labelled axes and series, one scale for figures and their
gates, tick labels that never overlap, and small non-zero figures that stay visible."""

from __future__ import annotations

import re

import pytest

from synth_pipeline.report import svg


@pytest.mark.parametrize("peak,ticks", [
    (1.0, [0, 0.5, 1.0]),  # already round
    (0.37, [0, 0.1, 0.2, 0.3, 0.4]),
    (0.6, [0, 0.2, 0.4, 0.6]),
    (7.0, [0, 2, 4, 6, 8]),
    (0.0, [0, 0.5, 1.0]),  # nothing to show: still an axis, not a division by zero
])
def test_ticks_are_round_and_reach_the_peak(peak, ticks):
    assert svg.nice_ticks(peak) == pytest.approx(ticks)


def _gate(name, value, limit, passed=True, direction="max", interval=None):
    return {"name": name, "value": value, "limit": limit, "direction": direction, "passed": passed,
            "interval": interval}


def _bars(chart: str) -> dict[str, float]:
    """Width of each figure's bar, by the row label before it."""
    return {name: float(width) for name, width in
            re.findall(r'text-anchor="end">([^<]+)</text><rect x="[\d.]+" y="[\d.]+" width="([\d.]+)"', chart)}


GATE_CASES = [
    # (figure, bar width expected: "zero", "visible" (at least the minimum) or a width in px, text expected)
    (_gate("exact matches", 0.0, 0.05), "zero", "0 (gate ≤ 0.05)"),
    (_gate("borderline", 0.0004, 0.6), "visible", "0.0004 (gate ≤ 0.6)"),  # far below a pixel at scale
    (_gate("dcr share", 0.55, 0.6), 0.55, "0.55 (gate ≤ 0.6)"),
    (_gate("over", 0.7, 0.6, passed=False), 0.7, "0.7 (gate ≤ 0.6)"),
    (_gate("floor", 0.9, 0.8, direction="min"), 0.9, "0.9 (gate ≥ 0.8)"),
]


@pytest.mark.parametrize("figure,bar,text", GATE_CASES, ids=[case[0]["name"] for case in GATE_CASES])
def test_each_figure_is_drawn_on_one_scale_with_its_gate_and_its_value(figure, bar, text):
    others = [_gate("reference", 0.8, 0.6, passed=False)]  # fixes the axis at 0 .. 0.8
    chart = svg.gate_chart([figure, *others], title="risks")
    widths = _bars(chart)
    scale = widths["reference"] / 0.8
    if bar == "zero":
        assert widths[figure["name"]] == 0
    elif bar == "visible":
        assert widths[figure["name"]] >= 2
    else:
        assert widths[figure["name"]] == pytest.approx(bar * scale, abs=0.2)
    assert text in chart and "value of the figure" in chart and "its gate" in chart  # axis and legend
    gate = re.search(r'<rect x="([\d.]+)"[^>]*><title>gate [≤≥] ' + re.escape(f"{figure['limit']:g}"), chart)
    assert gate and float(gate.group(1)) + 1.5 == pytest.approx(_left(chart) + figure["limit"] * scale, abs=0.2)
    failed_bar = f'width="{widths[figure["name"]]:.1f}" height="12" fill="{svg.FAILED}"'
    assert (failed_bar in chart) == (not figure["passed"])


def _left(chart: str) -> float:
    return float(re.search(r'<text x="([\d.]+)" y="[\d.]+" text-anchor="middle">0</text>', chart).group(1))


def test_an_interval_is_a_whisker_and_names_are_escaped():
    chart = svg.gate_chart([_gate("<b>risk</b>", 0.02, 0.1, interval=(-0.01, 0.05))], title="a&b")
    assert "<b>" not in chart and "&lt;b&gt;risk" in chart and "a&amp;b" in chart
    assert "interval -0.01 to 0.05" in chart
    assert not re.search(r'<line x1="-', chart)  # a negative lower end is clipped at the axis


def _tick_labels(chart: str) -> list[tuple[float, str]]:
    return [(float(x), text) for x, text in
            re.findall(r'<text transform="translate\(([\d.]+),[\d.]+\) rotate\(-90\)" text-anchor="end">([^<]*)<',
                       chart)]


@pytest.mark.parametrize("count,width,shown", [
    (4, 300, 4),  # room for every label
    (24, 340, 12),  # 24 bars of 11 px: every second label
    (100, 460, 25),  # every fourth
])
def test_tick_labels_stand_upright_and_never_overlap(count, width, shown):
    labels = [f"category number {i}" for i in range(count)]
    chart = svg.grouped_bars(labels, {"real": [1 / count] * count, "synthetic": [1 / count] * count}, title="c",
                             width=width)
    ticks = _tick_labels(chart)
    assert len(ticks) == shown
    assert all(b[0] - a[0] >= 13 for a, b in zip(ticks, ticks[1:]))
    height = float(re.search(r'height="(\d+)"', chart).group(1))
    assert height >= 38 + 80 + 6 * 17  # the longest label (18 characters shown) fits below the plot
    assert "share of rows" in chart and ">real</text>" in chart and ">synthetic</text>" in chart


def test_a_small_share_gets_a_visible_bar_and_a_zero_none():
    chart = svg.grouped_bars(["a", "b", "c"], {"synthetic": [0.98, 0.0004, 0.0]}, title="c")
    heights = [float(h) for h in re.findall(r'height="([\d.]+)" fill=', chart)[1:]]  # after the legend square
    assert heights[1] >= 2 and heights[2] == 0


def test_charts_escape_what_they_show():
    chart = svg.grouped_bars(["<b>x</b>"], {"real": [0.5]}, title="a&b", y_label="<y>")
    assert "<b>" not in chart and "&lt;b&gt;" in chart and "a&amp;b" in chart and "&lt;y&gt;" in chart
