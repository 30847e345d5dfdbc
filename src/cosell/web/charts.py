"""Small bar charts drawn as SVG on the server: no script, no inline style (the CSP allows
neither), with a text summary and a title per bar for screen readers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

WIDTH, HEIGHT, GAP = 480, 80, 2


@dataclass(frozen=True)
class Series:
    """One chart: a label and (moment, count) points, oldest first."""

    label: str
    points: Sequence[tuple[datetime, int]]
    unit: str = ""
    """Set for averages (e.g. ``"s"``): the summary then gives the range, not a total."""
    scale: int | None = None
    """A fixed top of the chart (100 for percentages); else the highest bar."""
    line: float | None = None
    """A level drawn across the chart (e.g. where the API reserve starts), in the series' unit."""
    line_label: str = ""

    @property
    def total(self) -> int:
        return sum(n for _, n in self.points)

    @property
    def peak(self) -> int:
        return max((n for _, n in self.points), default=0)

    @property
    def summary(self) -> str:
        if self.unit:
            seen = [n for _, n in self.points if n]
            if not seen:
                return f"{self.label}: nothing in 24 h"
            return f"{self.label}: {min(seen)}–{max(seen)} {self.unit} over 24 h"
        return f"{self.label}: {self.total} in 24 h, at most {self.peak} an hour"


def bar_chart(series: Series) -> Markup:
    """The series as an SVG bar chart (``role="img"`` with a summary as its label)."""
    count = max(len(series.points), 1)
    width = WIDTH / count
    peak = series.scale or max(series.peak, 1)
    bars = []
    for index, (moment, n) in enumerate(series.points):
        height = round(HEIGHT * n / peak, 1)
        x, y = round(index * width, 1), round(HEIGHT - height, 1)
        title = f"{moment:%H}:00 UTC: {n}"
        bars.append(
            f'<rect x="{x}" y="{y}" width="{round(width - GAP, 1)}" height="{height}" '
            f'fill="#0969da"><title>{escape(title)}</title></rect>'
        )
    if series.line is not None:
        y = round(HEIGHT - HEIGHT * min(series.line / peak, 1.0), 1)
        bars.append(
            f'<line class="limit" x1="0" y1="{y}" x2="{WIDTH}" y2="{y}" stroke="#cf222e" '
            f'stroke-dasharray="6 4"><title>{escape(series.line_label)}</title></line>'
        )
    summary = series.summary
    if series.line_label:
        summary = f"{summary}; {series.line_label}"
    svg = (
        f'<svg class="chart" role="img" aria-label="{escape(summary)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}">'
        f'{"".join(bars)}<line x1="0" y1="{HEIGHT}" x2="{WIDTH}" y2="{HEIGHT}" '
        f'stroke="#d0d7de"/></svg>'
    )
    return Markup(svg)  # noqa: S704 (built from numbers and escaped text above)
