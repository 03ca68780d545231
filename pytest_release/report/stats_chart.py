"""An SVG chart of the DORA figures: one panel per environment, one group of bars per month
(Released in green, change failures in red, Aborted in grey) with the change failure rate and
the median lead time written above each month. Pure and deterministic, like charts.py."""

from __future__ import annotations

from typing import Sequence
from xml.sax.saxutils import escape

from pytest_release.core.dora import MonthFigures, format_seconds
from pytest_release.report.charts import COLOURS

PANEL_H, LEFT, TOP, BAR_W, GAP = 190, 56, 44, 18, 26
ABORTED_COLOUR = "#9e9e9e"


def stats_chart(months: Sequence[MonthFigures], title: str = "Release history (DORA)") -> str:
    envs = sorted({m.env for m in months})
    all_months = sorted({m.month for m in months})
    width = max(LEFT + len(all_months) * (3 * BAR_W + GAP) + GAP, 360)
    height = TOP + max(len(envs), 1) * PANEL_H + 16
    y_max = max([max(m.released, m.failures, m.releases - m.deployments) for m in months] + [1])
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>',
        f'<text x="{LEFT}" y="20" font-size="14" font-weight="bold">{escape(title)}</text>',
        f'<text x="{LEFT}" y="36" fill="{COLOURS["ok"]}">released</text>',
        f'<text x="{LEFT + 64}" y="36" fill="{COLOURS["hard"]}">change failures</text>',
        f'<text x="{LEFT + 168}" y="36" fill="{ABORTED_COLOUR}">aborted</text>',
    ]
    if not months:
        out.append(f'<text x="{LEFT}" y="{TOP + 40}">no releases in the history</text>')
    for row, env in enumerate(envs):
        top = TOP + row * PANEL_H
        base = top + PANEL_H - 40
        plot_h = PANEL_H - 70
        out.append(f'<text x="8" y="{top + 18}" font-weight="bold">{escape(env)}</text>')
        out.append(f'<line x1="{LEFT}" y1="{base}" x2="{width - GAP}" y2="{base}" stroke="#444"/>')
        by_month = {m.month: m for m in months if m.env == env}
        for i, month in enumerate(all_months):
            x0 = LEFT + GAP / 2 + i * (3 * BAR_W + GAP)
            out.append(f'<text x="{x0 + 1.5 * BAR_W}" y="{base + 16}" text-anchor="middle">{month}</text>')
            figures = by_month.get(month)
            if figures is None:
                continue
            for j, (name, value, colour) in enumerate((
                ("released", figures.released, COLOURS["ok"]),
                ("failures", figures.failures, COLOURS["hard"]),
                ("aborted", figures.releases - figures.deployments, ABORTED_COLOUR),
            )):
                h = round(plot_h * value / y_max, 2)
                out.append(
                    f'<rect class="{name}" x="{x0 + j * BAR_W}" y="{base - h}" width="{BAR_W - 2}" height="{h}" fill="{colour}">'
                    f"<title>{escape(f'{env} {month}: {value} {name}')}</title></rect>"
                )
            cfr = "n/a" if figures.change_failure_rate is None else f"{figures.change_failure_rate:.0%}"
            out.append(
                f'<text class="cfr" x="{x0 + 1.5 * BAR_W}" y="{top + 18}" text-anchor="middle">CFR {cfr}</text>'
                f'<text class="lead" x="{x0 + 1.5 * BAR_W}" y="{top + 32}" text-anchor="middle">'
                f"lead {format_seconds(figures.lead_time.median)}</text>"
            )
    out.append(f"<desc>{escape(describe(months))}</desc>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def describe(months: Sequence[MonthFigures]) -> str:
    parts = []
    for m in months:
        cfr = "n/a" if m.change_failure_rate is None else f"{m.change_failure_rate:.0%}"
        parts.append(
            f"{m.env} {m.month}: {m.released} released, {m.failures} failed of {m.deployments} deployments (CFR {cfr}), "
            f"lead time {format_seconds(m.lead_time.median)}, time to restore {format_seconds(m.time_to_restore.median)}"
        )
    return "; ".join(parts) or "no releases"
