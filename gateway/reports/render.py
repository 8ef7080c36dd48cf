"""Render ``TeamReport``s as json, csv, md or html; every format is drawn from the same model.

- json: one report as an object (a list of them as an array), shape in team_report.schema.json
- csv:  the daily series, one row per team and day plus a ``total`` row per team
- md:   headline, budgets, tiers, categories, routing, reasons and the daily table
- html: one self-contained page with inline SVG charts (``gateway.reports.html``)
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Literal, get_args

import orjson

from gateway.reports.model import Money, TeamReport

ReportFormat = Literal["json", "csv", "md", "html"]
FORMATS: tuple[str, ...] = get_args(ReportFormat)
MEDIA_TYPES: dict[str, str] = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
}


def render_reports(reports: Sequence[TeamReport], fmt: ReportFormat, *, single: bool) -> bytes:
    """`single` renders a JSON object for one report rather than an array."""
    if fmt == "json":
        data = [r.model_dump(mode="json") for r in reports]
        return orjson.dumps(data[0] if single else data, option=orjson.OPT_INDENT_2) + b"\n"
    if fmt == "csv":
        return render_csv(reports).encode()
    if fmt == "md":
        return "\n\n".join(render_markdown(r) for r in reports).encode()
    from gateway.reports.html import render_html

    return render_html(reports).encode()


def csv_header(tiers: Sequence[str]) -> list[str]:
    header = [
        "team",
        "date",
        "requests",
        "images",
        "cost_micros",
        "cost_usd",
        "baseline_micros",
        "baseline_usd",
        "savings_micros",
        "savings_usd",
        "batch_images",
        "batch_cost_micros",
        "batch_cost_usd",
        "verified",
        "escalations",
    ]
    for tier in tiers:
        header += [f"{tier}_cost_micros", f"{tier}_cost_usd"]
    return header


def render_csv(reports: Sequence[TeamReport]) -> str:
    tiers: list[str] = []
    for report in reports:
        tiers += [t.tier for t in report.tiers if t.tier not in tiers]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(csv_header(tiers))

    def row(
        team: str,
        label: str,
        requests: int,
        images: int,
        cost: Money,
        baseline: Money,
        tier_cost: dict[str, Money],
        batch_images: int,
        batch_cost: Money,
        verified: int,
        escalations: int,
    ) -> list[str | int]:
        savings = Money.of(baseline.micros - cost.micros)
        cells: list[str | int] = [
            team,
            label,
            requests,
            images,
            cost.micros,
            cost.usd,
            baseline.micros,
            baseline.usd,
            savings.micros,
            savings.usd,
            batch_images,
            batch_cost.micros,
            batch_cost.usd,
            verified,
            escalations,
        ]
        for tier in tiers:
            amount = tier_cost.get(tier, Money.of(0))
            cells += [amount.micros, amount.usd]
        return cells

    for report in reports:
        for day in report.daily:
            writer.writerow(
                row(
                    report.team,
                    day.date.isoformat(),
                    day.requests,
                    day.images,
                    day.cost,
                    day.baseline,
                    day.tier_cost,
                    day.batch_images,
                    day.batch_cost,
                    day.verified,
                    day.escalations,
                )
            )
        t = report.totals
        writer.writerow(
            row(
                report.team,
                "total",
                t.requests,
                t.images,
                t.cost,
                t.baseline,
                {tier.tier: tier.cost for tier in report.tiers},
                t.batch.images,
                t.batch.cost,
                report.verification.requests,
                report.verification.escalations,
            )
        )
    return out.getvalue()


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|")

    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(" ---: " if i else " --- " for i in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return lines


def dollars(money: Money) -> str:
    return f"${money.usd}"


def headline(report: TeamReport) -> str:
    t = report.totals
    saved = "n/a" if t.savings_percent is None else f"{t.savings_percent:.1f}%"
    return (
        f"Spend {dollars(t.cost)} · {t.images} images · {t.requests} requests · "
        f"saved {dollars(t.savings)} ({saved}) against all-flagship {dollars(t.baseline)}"
    )


def flagship_line(report: TeamReport) -> str:
    """``34.1% of 1,200 routed requests went to flagship (target 30.0%) ...``"""
    f = report.flagship_share
    share = "n/a" if f.share is None else f"{f.share:.1%}"
    target = "no target" if f.target is None else f"target {f.target:.1%}"
    return (
        f"{share} of {f.routed_requests:,} routed requests went to {f.tier or 'the flagship'} "
        f"({target}; routing-score threshold {f.threshold:.4f}); the learned model changed "
        f"the tier of {f.model_changed:,}."
    )


def render_markdown(report: TeamReport) -> str:
    p, r = report.period, report.routing
    lines = [
        f"# tiergate report: team {report.team}",
        "",
        f"Period: {p.start} to {p.end} (UTC, {p.days} days)",
        "",
        headline(report),
        "",
    ]
    lines += ["## Live and batch", ""]
    lines += _table(
        ["source", "requests", "images", "cost (USD)"],
        [
            [name, u.requests, u.images, u.cost.usd]
            for name, u in (("live", report.totals.live), ("batch", report.totals.batch))
        ],
    )
    lines += [""]
    lines += ["## Budgets", ""]
    if report.budgets:
        lines += _table(
            [
                "budget",
                "limit (USD)",
                "peak spend (USD)",
                "windows",
                "over soft limit",
                "over limit",
            ],
            [
                [
                    b.period,
                    b.limit.usd,
                    b.peak.usd,
                    len(b.windows),
                    b.windows_over_soft,
                    b.windows_over_limit,
                ]
                for b in report.budgets
            ],
        )
        for b in report.budgets:
            lines += ["", f"### {b.period} budget, ${b.limit.usd} per {b.period}", ""]
            lines += _table(
                ["window", "spent (USD)", "used %", "state", "partial"],
                [
                    [
                        w.bucket,
                        w.spent.usd,
                        f"{w.percent_used:.1f}",
                        w.state,
                        "yes" if w.partial else "",
                    ]
                    for w in b.windows
                ],
            )
    else:
        lines.append("This team has no budgets.")
    lines += ["", "## Tiers", ""]
    lines += _table(
        [
            "tier",
            "requests",
            "images",
            "images %",
            "cost (USD)",
            "mean latency ms",
            "p95 latency ms",
        ],
        [
            [
                t.tier,
                t.requests,
                t.images,
                f"{t.images_percent:.1f}",
                t.cost.usd,
                "" if t.latency.mean_ms is None else f"{t.latency.mean_ms:.0f}",
                ""
                if t.latency.p95_bucket is None
                else f"≤ {t.latency.p95_ms}"
                if t.latency.p95_ms is not None
                else "> 60000",
            ]
            for t in report.tiers
        ],
    )
    lines += ["", "## Flagship share", "", flagship_line(report)]
    lines += ["", "## Categories", ""]
    lines += _table(["category", "requests"], [[c.category, c.requests] for c in report.categories])
    lines += ["", "## Routing", ""]
    lines += _table(
        [
            "downgrades",
            "fallbacks",
            "rejected: budget",
            "rejected: rate",
            "rejected: upstream",
            "rejected: other",
            "unsettled",
            "unsettled (USD)",
            "cancelled",
            "cancelled (USD)",
            "disconnected",
            "disconnected (USD)",
        ],
        [
            [
                r.downgrades,
                r.fallbacks,
                r.rejections.budget,
                r.rejections.rate,
                r.rejections.upstream,
                r.rejections.other,
                r.unsettled.requests,
                r.unsettled.cost.usd,
                r.cancelled.requests,
                r.cancelled.cost.usd,
                r.disconnected.requests,
                r.disconnected.cost.usd,
            ]
        ],
    )
    v = report.verification
    lines += ["", "## Verification", ""]
    lines += [
        f"{v.requests} verified, {v.escalations} escalated (extra {dollars(v.escalation_cost)}); "
        f"savings after escalations {dollars(v.savings_after_escalations)} "
        f"(before: {dollars(v.savings_before_escalations)})",
        "",
    ]
    lines += _table(
        ["by", "name", "checked", "passed", "pass rate"],
        [
            [kind, r.name, r.checked, r.passed, "n/a" if r.pass_rate is None else r.pass_rate]
            for kind, rows in (("tier", v.by_tier), ("category", v.by_category))
            for r in rows
        ],
    )
    lines += ["", "## Top reason codes", ""]
    lines += _table(["reason", "requests"], [[x.code, x.count] for x in report.top_reasons])
    tiers = [t.tier for t in report.tiers]
    lines += ["", "## Daily", ""]
    lines += _table(
        [
            "date",
            "requests",
            "images",
            "cost (USD)",
            "baseline (USD)",
            *(f"{t} (USD)" for t in tiers),
        ],
        [
            [
                d.date,
                d.requests,
                d.images,
                d.cost.usd,
                d.baseline.usd,
                *(d.tier_cost[t].usd if t in d.tier_cost else "0.000000" for t in tiers),
            ]
            for d in report.daily
        ],
    )
    return "\n".join(lines) + "\n"
