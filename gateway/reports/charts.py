"""Inline SVG charts for the HTML report, drawn server-side (pure; no scripts, no fonts)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from gateway.reports.model import Money, TeamReport, usd_string

PALETTE = ("#e76f51", "#2a9d8f", "#264653", "#e9c46a", "#8ab17d", "#9c6644", "#6d597a")
TIER_COLOURS = {"flagship": "#e76f51", "efficient": "#2a9d8f"}
AXIS = "#6b7280"
GRID = "#e5e7eb"
FONT = "font-family='system-ui, -apple-system, Segoe UI, Roboto, sans-serif'"


def tier_colour(tier: str, index: int) -> str:
    return TIER_COLOURS.get(tier, PALETTE[(index + 2) % len(PALETTE)])


def nice_ceiling(value: float) -> float:
    """Round up to 1, 2, 2.5 or 5 times a power of ten (a readable axis maximum)."""
    if value <= 0:
        return 1.0
    power = math.pow(10, math.floor(math.log10(value)))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def short_usd(micros: float) -> str:
    usd = micros / 1_000_000
    if usd >= 100:
        return f"${usd:,.0f}"
    if usd >= 1:
        return f"${usd:,.2f}"
    return f"${usd:.4f}".rstrip("0").rstrip(".") if usd else "$0"


def daily_spend_chart(report: TeamReport, width: int = 960, height: int = 300) -> str:
    """Stacked bars of each day's spend by tier, with the day budget (or soft limit) as a line."""
    left, right, top, bottom = 70, 20, 34, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    tiers = [t.tier for t in report.tiers]
    day_budget = next((b for b in report.budgets if b.period == "day"), None)
    month_budget = next((b for b in report.budgets if b.period == "month"), None)
    line_micros: float | None = None
    line_label = ""
    if day_budget is not None:
        line_micros = day_budget.limit.micros
        line_label = f"day budget {short_usd(line_micros)}"
    elif month_budget is not None:
        line_micros = month_budget.limit.micros / 30
        line_label = f"monthly budget ÷ 30 = {short_usd(line_micros)}/day"
    peak = max((d.cost.micros for d in report.daily), default=0)
    y_max = nice_ceiling(max(peak, line_micros or 0) * 1.05)

    def y(micros: float) -> float:
        return top + plot_h - micros / y_max * plot_h

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' class='chart' id='chart-daily-spend' "
        f"viewBox='0 0 {width} {height}' width='{width}' height='{height}' role='img' "
        f"aria-label='Daily spend against budget' {FONT} font-size='12'>"
    ]
    for i in range(5):
        value = y_max * i / 4
        parts.append(
            f"<line x1='{left}' x2='{width - right}' y1='{y(value):.1f}' "
            f"y2='{y(value):.1f}' stroke='{GRID}'/>"
        )
        parts.append(
            f"<text x='{left - 8}' y='{y(value) + 4:.1f}' text-anchor='end' "
            f"fill='{AXIS}'>{escape(short_usd(value))}</text>"
        )
    days = len(report.daily)
    slot = plot_w / max(days, 1)
    bar_w = max(slot * 0.7, 1.0)
    label_every = max(1, math.ceil(days / 12))
    for i, day in enumerate(report.daily):
        x = left + i * slot + (slot - bar_w) / 2
        base = 0
        for j, tier in enumerate(tiers):
            amount = day.tier_cost.get(tier, Money.of(0)).micros
            if amount <= 0:
                continue
            h = amount / y_max * plot_h
            parts.append(
                f"<rect class='bar' x='{x:.1f}' y='{y(base + amount):.1f}' width='{bar_w:.1f}' "
                f"height='{max(h, 0.5):.1f}' fill='{tier_colour(tier, j)}'><title>"
                f"{day.date} {escape(tier)}: ${usd_string(amount)}</title></rect>"
            )
            base += amount
        if i % label_every == 0:
            parts.append(
                f"<text x='{x + bar_w / 2:.1f}' y='{height - bottom + 16}' "
                f"text-anchor='middle' fill='{AXIS}'>{day.date.strftime('%b %d')}</text>"
            )
    for j, tier in enumerate(tiers):
        lx = left + j * 120
        parts.append(
            f"<rect class='legend' x='{lx}' y='4' width='12' height='12' "
            f"fill='{tier_colour(tier, j)}'/><text x='{lx + 18}' y='15' "
            f"fill='#111827'>{escape(tier)}</text>"
        )
    parts.append(
        f"<line x1='{left}' x2='{width - right}' y1='{top + plot_h}' "
        f"y2='{top + plot_h}' stroke='{AXIS}'/>"
    )
    if line_micros is not None:
        ly = y(line_micros)
        parts.append(
            f"<path class='budget-line' d='M{left},{ly:.1f} H{width - right}' "
            f"stroke='#b91c1c' stroke-width='2' stroke-dasharray='6 4' fill='none'/>"
        )
        parts.append(
            f"<text x='{width - right}' y='{ly - 6:.1f}' text-anchor='end' "
            f"fill='#b91c1c'>{escape(line_label)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _arc(cx: float, cy: float, r: float, start: float, end: float) -> str:
    """A pie slice from angle `start` to `end` (radians, clockwise from 12 o'clock)."""
    x0, y0 = cx + r * math.sin(start), cy - r * math.cos(start)
    x1, y1 = cx + r * math.sin(end), cy - r * math.cos(end)
    large = 1 if end - start > math.pi else 0
    return f"M{cx:.1f},{cy:.1f} L{x0:.2f},{y0:.2f} A{r},{r} 0 {large} 1 {x1:.2f},{y1:.2f} Z"


def donut_chart(
    chart_id: str, label: str, slices: Sequence[tuple[str, int, str]], unit: str, size: int = 200
) -> str:
    """A donut of (name, value, colour) slices with a legend on the right."""
    width, cx, cy, r = size + 220, size / 2, size / 2, size / 2 - 10
    total = sum(v for _, v, _ in slices)
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' class='chart' id='{chart_id}' "
        f"viewBox='0 0 {width} {size}' width='{width}' height='{size}' role='img' "
        f"aria-label='{escape(label)}' {FONT} font-size='13'>"
    ]
    angle = 0.0
    shown = [(n, v, c) for n, v, c in slices if v > 0]
    for name, value, colour in shown:
        sweep = 2 * math.pi * value / total
        # A full circle cannot be one arc: draw it as two halves.
        pieces = (
            [(angle, angle + math.pi), (angle + math.pi, angle + sweep)]
            if sweep >= 2 * math.pi - 1e-9
            else [(angle, angle + sweep)]
        )
        for start, end in pieces:
            parts.append(
                f"<path class='slice' d='{_arc(cx, cy, r, start, end)}' fill='{colour}'>"
                f"<title>{escape(name)}: {value} {unit}</title></path>"
            )
        angle += sweep
    if not shown:
        parts.append(f"<circle cx='{cx}' cy='{cy}' r='{r}' fill='{GRID}'/>")
    parts.append(f"<circle cx='{cx}' cy='{cy}' r='{r * 0.55:.1f}' fill='#ffffff'/>")
    parts.append(
        f"<text x='{cx}' y='{cy + 6}' text-anchor='middle' font-size='20' "
        f"font-weight='600' fill='#111827'>{total}</text>"
    )
    parts.append(f"<text x='{cx}' y='{cy + 24}' text-anchor='middle' fill='{AXIS}'>{unit}</text>")
    for i, (name, value, colour) in enumerate(slices):
        ly = 30 + i * 26
        share = f"{value * 100 / total:.0f}%" if total else "0%"
        parts.append(
            f"<rect class='legend' x='{size + 10}' y='{ly - 11}' width='14' height='14' "
            f"fill='{colour}'/>"
        )
        parts.append(
            f"<text x='{size + 32}' y='{ly}' fill='#111827'>{escape(name)}: "
            f"{value} ({share})</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def tier_mix_chart(report: TeamReport) -> str:
    slices = [(t.tier, t.images, tier_colour(t.tier, i)) for i, t in enumerate(report.tiers)]
    return donut_chart("chart-tier-mix", "Images by tier", slices, "images")


def category_mix_chart(report: TeamReport, width: int = 440) -> str:
    """Horizontal bars of requests per classifier category."""
    rows = report.categories or []
    row_h, left = 28, 120
    height = max(len(rows), 1) * row_h + 20
    peak = max((c.requests for c in rows), default=0) or 1
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' class='chart' id='chart-category-mix' "
        f"viewBox='0 0 {width} {height}' width='{width}' height='{height}' role='img' "
        f"aria-label='Requests by category' {FONT} font-size='13'>"
    ]
    if not rows:
        parts.append(f"<text x='10' y='24' fill='{AXIS}'>No requests in this period.</text>")
    for i, category in enumerate(rows):
        y = 10 + i * row_h
        w = max((width - left - 60) * category.requests / peak, 1.0)
        parts.append(
            f"<text x='{left - 8}' y='{y + 17}' text-anchor='end' fill='#111827'>"
            f"{escape(category.category)}</text>"
        )
        colour = PALETTE[(i + 2) % len(PALETTE)]
        parts.append(
            f"<rect class='bar' x='{left}' y='{y + 4}' width='{w:.1f}' "
            f"height='{row_h - 8}' fill='{colour}'><title>{escape(category.category)}: "
            f"{category.requests} requests</title></rect>"
        )
        parts.append(
            f"<text x='{left + w + 6:.1f}' y='{y + 17}' fill='{AXIS}'>{category.requests}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
