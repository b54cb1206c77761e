"""A bar chart of events per hour, rendered on the server as SVG (no script, CSP-friendly)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

WIDTH, HEIGHT, PAD = 720, 180, 28


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    colour: str
    times: Sequence[datetime]


def hourly(times: Sequence[datetime], end: datetime, hours: int) -> list[int]:
    """Counts per hour for the ``hours`` hours up to ``end`` (oldest first)."""
    start = end - timedelta(hours=hours)
    counts = [0] * hours
    for when in times:
        if start <= when < end:
            counts[min(int((when - start).total_seconds() // 3600), hours - 1)] += 1
    return counts


def bar_chart(series: Sequence[Series], end: datetime, hours: int = 24) -> str:
    """SVG markup: one group of bars per hour, one bar per series, with a legend."""
    counts = [hourly(s.times, end, hours) for s in series]
    top = max([1, *(c for row in counts for c in row)])
    slot = (WIDTH - 2 * PAD) / hours
    bar = max(slot / (len(series) + 1), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT + 40}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT + 40}" role="img" aria-label="events per hour">',
        f'<line x1="{PAD}" y1="{HEIGHT}" x2="{WIDTH - PAD}" y2="{HEIGHT}" stroke="#889"/>',
        f'<text x="2" y="{PAD}" font-size="10">{top}</text>',
    ]
    for index, row in enumerate(counts):
        colour = escape(series[index].colour)
        for hour, count in enumerate(row):
            if not count:
                continue
            height = (HEIGHT - PAD) * count / top
            x = PAD + hour * slot + index * bar
            parts.append(
                f'<rect x="{x:.1f}" y="{HEIGHT - height:.1f}" width="{bar:.1f}" '
                f'height="{height:.1f}" fill="{colour}"><title>{count}</title></rect>'
            )
    for hour in range(0, hours, 6):
        label = (end - timedelta(hours=hours - hour)).strftime("%H:00")
        parts.append(
            f'<text x="{PAD + hour * slot:.1f}" y="{HEIGHT + 14}" font-size="10">{label}</text>'
        )
    for index, item in enumerate(series):
        x = PAD + index * 200
        parts.append(
            f'<rect x="{x}" y="{HEIGHT + 24}" width="10" height="10" fill="{escape(item.colour)}"/>'
        )
        parts.append(
            f'<text x="{x + 14}" y="{HEIGHT + 33}" font-size="11">{escape(item.label)} '
            f"({sum(counts[index])})</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
