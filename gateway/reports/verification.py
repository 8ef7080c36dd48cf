"""The report's verification figures, from the ``verify:*`` aggregates (pure), and the HTML
chart of the escalation rate per day."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from gateway.reports.model import (
    DailyUsage,
    Money,
    PassRate,
    VerificationSummary,
)

SKIP_REASONS = ("budget", "failed", "disabled")


def _rate(passed: int, checked: int) -> float | None:
    return round(passed / checked, 4) if checked else None


def verification_summary(total: Mapping[str, int], savings_micros: int) -> VerificationSummary:
    def rates(kind: str) -> list[PassRate]:
        names = sorted(
            {
                k.split(":")[2]
                for k in total
                if k.startswith(f"verify:{kind}:") and k.endswith(":checked")
            }
        )
        return [
            PassRate(
                name=name,
                checked=total[f"verify:{kind}:{name}:checked"],
                passed=total.get(f"verify:{kind}:{name}:passed", 0),
                pass_rate=_rate(
                    total.get(f"verify:{kind}:{name}:passed", 0),
                    total[f"verify:{kind}:{name}:checked"],
                ),
            )
            for name in names
        ]

    escalation_micros = total.get("verify:escalation_micros", 0)
    return VerificationSummary(
        requests=total.get("verify:requests", 0),
        by_tier=rates("tier"),
        by_category=rates("cat"),
        escalations=total.get("verify:escalated", 0),
        escalation_cost=Money.of(escalation_micros),
        escalations_skipped={
            r: total.get(f"verify:escalation_skipped:{r}", 0) for r in SKIP_REASONS
        },
        savings_after_escalations=Money.of(savings_micros),
        savings_before_escalations=Money.of(savings_micros + escalation_micros),
    )


def escalation_rate_chart(daily: list[DailyUsage], width: int = 960, height: int = 220) -> str:
    """Bars of each day's escalations / verified requests (0-100%)."""
    left, right, top, bottom = 50, 20, 20, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = plot_w / max(len(daily), 1)
    bar_w = max(slot * 0.7, 1.0)
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' class='chart' id='chart-escalation-rate' "
        f"viewBox='0 0 {width} {height}' width='{width}' height='{height}' role='img' "
        "aria-label='Escalation rate per day' font-family='system-ui,sans-serif' font-size='12'>"
    ]
    for i in range(5):
        y = top + plot_h - plot_h * i / 4
        parts.append(
            f"<line x1='{left}' x2='{width - right}' y1='{y:.1f}' y2='{y:.1f}' stroke='#e5e7eb'/>"
        )
        parts.append(
            f"<text x='{left - 6}' y='{y + 4:.1f}' text-anchor='end' "
            f"fill='#6b7280'>{25 * i}%</text>"
        )
    label_every = max(1, -(-len(daily) // 12))
    for i, day in enumerate(daily):
        x = left + i * slot + (slot - bar_w) / 2
        if day.verified:
            rate = day.escalations / day.verified
            h = max(rate * plot_h, 0.5)
            parts.append(
                f"<rect class='bar' x='{x:.1f}' y='{top + plot_h - h:.1f}' width='{bar_w:.1f}' "
                f"height='{h:.1f}' fill='#d97706'><title>{day.date}: {day.escalations} of "
                f"{day.verified} verified ({rate:.0%}) escalated</title></rect>"
            )
        if i % label_every == 0:
            parts.append(
                f"<text x='{x + bar_w / 2:.1f}' y='{height - bottom + 16}' text-anchor='middle' "
                f"fill='#6b7280'>{escape(day.date.strftime('%b %d'))}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)
