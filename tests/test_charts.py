"""The watch window's SVG charts: valid SVG, values and reference lines where they belong, and
no input (no data, infinity, NaN, a zero baseline, odd names) that breaks a chart."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from pytest_release.report.charts import (
    HEIGHT,
    LEFT,
    TOP,
    ChartLines,
    ChartPoint,
    describe,
    metric_chart,
    threshold_lines,
)

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def line_y(root: ET.Element, name: str) -> float:
    (line,) = [e for e in root.iter(f"{SVG}line") if e.get("class") == name]
    assert line.get("y1") == line.get("y2")
    return float(line.get("y1"))


def test_threshold_lines_sit_above_the_floored_baseline_for_higher_is_worse():
    lines = threshold_lines("up", 0.0, 0.01, 1.5, 2.0)
    assert lines == ChartLines(baseline=0.0, effective_baseline=0.01, soft=pytest.approx(0.015), hard=0.02)
    assert threshold_lines("up", 0.2, 0.05, 1.5, 3.0).hard == pytest.approx(0.6)


def test_threshold_lines_sit_below_the_baseline_for_lower_is_worse():
    lines = threshold_lines("down", 10.0, 0.0, 1.5, 2.0)
    assert (lines.soft, lines.hard) == (pytest.approx(10 / 1.5), 5.0)


@pytest.mark.parametrize("baseline", [None, math.nan, -1.0, math.inf])
def test_no_usable_baseline_and_no_floor_draws_no_reference_lines(baseline):
    assert threshold_lines("up", baseline, 0.0, 1.5, 2.0) == ChartLines(None, None, None, None)


def test_values_and_lines_are_drawn_in_order_of_size():
    lines = threshold_lines("up", 0.2, 0.05, 1.5, 3.0)
    points = [ChartPoint(60.0 * m, 0.2 if m < 6 else 0.34, "ok" if m < 6 else "soft") for m in range(1, 16)]
    root = parse(metric_chart("p99_latency", points, lines, duration=900))
    base, soft, hard = line_y(root, "baseline"), line_y(root, "soft"), line_y(root, "hard")
    assert hard < soft < base  # SVG y grows downwards: the hard line is highest
    circles = list(root.iter(f"{SVG}circle"))
    assert len(circles) == 15
    assert [c.get("class") for c in circles].count("soft") == 10
    drifted = float(circles[-1].get("cy"))
    assert hard < drifted < soft  # 0.34 lies above the soft line (0.3) and below the hard one (0.6)
    assert float(circles[0].get("cy")) == pytest.approx(base)
    (polyline,) = root.iter(f"{SVG}polyline")
    assert len(polyline.get("points").split()) == 15
    assert "first breach T+6m (soft)" in root.find(f"{SVG}desc").text


def test_no_data_breaks_the_line_and_is_marked_on_the_axis():
    points = [ChartPoint(60, 1.0), ChartPoint(120, 1.0), ChartPoint(180, None, "no-data"), ChartPoint(240, 1.0), ChartPoint(300, 1.0)]
    root = parse(metric_chart("error_rate", points, threshold_lines("up", 1.0, 0.0, 1.5, 2.0)))
    assert len(list(root.iter(f"{SVG}polyline"))) == 2
    (mark,) = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "no-data"]
    assert float(mark.get("y")) > TOP
    assert "T+3m: no data" in mark.find(f"{SVG}title").text


def test_an_infinite_value_is_drawn_at_the_top_and_nothing_breaks():
    points = [ChartPoint(60, 0.0), ChartPoint(120, math.inf, "hard"), ChartPoint(math.nan, 1.0), ChartPoint(180, math.nan, "no-data")]
    root = parse(metric_chart("error_rate", points, threshold_lines("up", 0.0, 0.01, 1.5, 2.0), duration=900))
    tops = [float(c.get("cy")) for c in root.iter(f"{SVG}circle") if c.get("class") == "hard"]
    assert tops == [TOP]


@pytest.mark.parametrize("points", [[], [ChartPoint(60, None, "no-data")], [ChartPoint(60, 0.0)]])
def test_degenerate_series_still_make_a_chart(points):
    root = parse(metric_chart("saturation", points, ChartLines(None, None, None, None)))
    for circle in root.iter(f"{SVG}circle"):
        assert LEFT <= float(circle.get("cx")) and float(circle.get("cy")) <= HEIGHT


def test_text_is_escaped():
    svg = metric_chart('q<depth>&"x"', [ChartPoint(60, 1.0)], ChartLines(1.0, 1.0, 1.5, 2.0), title="a < b & c")
    root = parse(svg)
    assert root.find(f"{SVG}title").text == "a < b & c"


def test_charts_are_deterministic():
    points = [ChartPoint(60.0 * m, m / 10) for m in range(1, 5)]
    lines = threshold_lines("up", 0.1, 0.0, 1.5, 2.0)
    assert metric_chart("m", points, lines) == metric_chart("m", points, lines)
    assert describe("m", points, lines) == "m: 4 polls, baseline 0.1, compared with 0.1, soft 0.15, hard 0.2"
