"""The HTML report: one self-contained page (inline CSS and SVG; no scripts, fonts or CDNs)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from html import escape

from gateway.reports.charts import category_mix_chart, daily_spend_chart, tier_mix_chart
from gateway.reports.model import TeamReport
from gateway.reports.verification import escalation_rate_chart

STYLE = """
body{margin:0;background:#f3f4f6;color:#111827;
  font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:15px}
main{max-width:1040px;margin:0 auto;padding:24px}
section.team{background:#fff;border-radius:10px;padding:24px 28px;margin-bottom:24px;
  box-shadow:0 1px 3px rgba(0,0,0,.08)}
h1{font-size:26px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 10px}
.period{color:#4b5563;margin-bottom:18px}
.cards{display:flex;gap:16px;flex-wrap:wrap}
.card{flex:1;min-width:180px;background:#f9fafb;border:1px solid #e5e7eb;border-radius:8px;
  padding:14px 16px}
.card .label{color:#6b7280;font-size:13px;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:28px;font-weight:650;margin-top:4px}
.card .note{color:#6b7280;font-size:13px;margin-top:2px}
.row{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{padding:6px 10px;border-bottom:1px solid #e5e7eb;text-align:right}
th:first-child,td:first-child{text-align:left}
th{color:#4b5563;font-weight:600;background:#f9fafb}
.state-over{color:#b91c1c;font-weight:600}.state-soft{color:#b45309}
svg.chart{max-width:100%;height:auto}
"""


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _card(label: str, value: str, note: str) -> str:
    return (
        f"<div class='card'><div class='label'>{escape(label)}</div>"
        f"<div class='value'>{escape(value)}</div><div class='note'>{escape(note)}</div></div>"
    )


def _flagship_card(report: TeamReport) -> str:
    f = report.flagship_share
    share = "n/a" if f.share is None else f"{f.share:.1%}"
    target = "no target set" if f.target is None else f"target {f.target:.1%}"
    return _card(
        "Flagship share",
        share,
        f"{target} · {f.routed_requests:,} routed · {f.model_changed:,} changed by the model",
    )


def _usd(usd: str) -> str:
    """``$1,234.57`` from a decimal string; corrections can be negative (``-$0.01``)."""
    amount = Decimal(usd).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
    return f"{'-' if amount < 0 else ''}${abs(amount):,.2f}"


def team_section(report: TeamReport) -> str:
    t, r, p = report.totals, report.routing, report.period
    saved = "n/a" if t.savings_percent is None else f"{t.savings_percent:.1f}%"
    parts = [
        f"<section class='team' id='team-{escape(report.team)}'>",
        f"<h1>Image spend report — team {escape(report.team)}</h1>",
        f"<div class='period'>{p.start:%d %b %Y} to {p.end:%d %b %Y} · {p.days} days (UTC)</div>",
        "<div class='cards'>",
        _card("Spend", _usd(t.cost.usd), f"exact: ${t.cost.usd}"),
        _card("Images", f"{t.images:,}", f"{t.requests:,} requests"),
        _card(
            "Savings", saved, f"{_usd(t.savings.usd)} less than all-flagship {_usd(t.baseline.usd)}"
        ),
        _card(
            "Rejected",
            f"{r.rejections.total:,}",
            f"{r.downgrades} downgraded · {r.fallbacks} fallbacks",
        ),
        _flagship_card(report),
        "</div>",
        "<h2>Daily spend against budget</h2>",
        daily_spend_chart(report),
        "<div class='row'><div><h2>Tier mix (images)</h2>",
        tier_mix_chart(report),
        "</div>",
        "<div><h2>Category mix (requests)</h2>",
        category_mix_chart(report),
        "</div></div>",
        "<h2>Budgets</h2>",
    ]
    if report.budgets:
        parts.append(
            _table(
                ["budget", "limit", "peak window", "windows", "over soft limit", "over limit"],
                [
                    [
                        escape(b.period),
                        _usd(b.limit.usd),
                        _usd(b.peak.usd),
                        str(len(b.windows)),
                        str(b.windows_over_soft),
                        f"<span class='{'state-over' if b.windows_over_limit else ''}'>"
                        f"{b.windows_over_limit}</span>",
                    ]
                    for b in report.budgets
                ],
            )
        )
    else:
        parts.append("<p>This team has no budgets.</p>")
    parts.append("<h2>Live and batch</h2>")
    parts.append(
        _table(
            ["source", "requests", "images", "cost"],
            [
                [name, str(u.requests), str(u.images), _usd(u.cost.usd)]
                for name, u in (("live", report.totals.live), ("batch", report.totals.batch))
            ],
        )
    )
    parts.append("<h2>Tiers</h2>")
    parts.append(
        _table(
            [
                "tier",
                "requests",
                "images",
                "share of images",
                "spend",
                "mean latency",
                "p95 latency",
            ],
            [
                [
                    escape(x.tier),
                    f"{x.requests:,}",
                    f"{x.images:,}",
                    f"{x.images_percent:.1f}%",
                    _usd(x.cost.usd),
                    "—" if x.latency.mean_ms is None else f"{x.latency.mean_ms / 1000:.2f} s",
                    "—"
                    if x.latency.p95_bucket is None
                    else f"≤ {x.latency.p95_ms / 1000:g} s"
                    if x.latency.p95_ms is not None
                    else "> 60 s",
                ]
                for x in report.tiers
            ],
        )
    )
    parts.append("<h2>Routing outcomes</h2>")
    parts.append(
        _table(
            [
                "downgrades",
                "fallbacks",
                "rejected (budget)",
                "rejected (rate)",
                "rejected (upstream)",
                "rejected (other)",
                "unsettled",
                "unsettled spend",
                "cancelled",
                "cancelled spend",
                "client gone",
                "client-gone spend",
            ],
            [
                [
                    str(r.downgrades),
                    str(r.fallbacks),
                    str(r.rejections.budget),
                    str(r.rejections.rate),
                    str(r.rejections.upstream),
                    str(r.rejections.other),
                    str(r.unsettled.requests),
                    _usd(r.unsettled.cost.usd),
                    str(r.cancelled.requests),
                    _usd(r.cancelled.cost.usd),
                    str(r.disconnected.requests),
                    _usd(r.disconnected.cost.usd),
                ]
            ],
        )
    )
    v = report.verification
    parts.append("<h2>Verification</h2>")
    parts.append(
        f"<p>{v.requests} requests verified, {v.escalations} escalated "
        f"(extra {_usd(v.escalation_cost.usd)}); savings after escalations "
        f"{_usd(v.savings_after_escalations.usd)}, before "
        f"{_usd(v.savings_before_escalations.usd)}.</p>"
    )
    parts.append(
        _table(
            ["by", "name", "checked", "passed", "pass rate"],
            [
                [
                    kind,
                    escape(r.name),
                    str(r.checked),
                    str(r.passed),
                    "n/a" if r.pass_rate is None else f"{r.pass_rate:.1%}",
                ]
                for kind, rows in (("tier", v.by_tier), ("category", v.by_category))
                for r in rows
            ],
        )
    )
    parts.append("<h3>Escalation rate per day</h3>")
    parts.append(escalation_rate_chart(report.daily))
    parts.append("<h2>Top routing reasons</h2>")
    parts.append(
        _table(
            ["reason code", "requests"],
            [[escape(x.code), str(x.count)] for x in report.top_reasons],
        )
    )
    parts.append("</section>")
    return "".join(parts)


def render_html(reports: Sequence[TeamReport]) -> str:
    teams = ", ".join(r.team for r in reports)
    title = f"tiergate report — {teams}" if reports else "tiergate report"
    body = "".join(team_section(r) for r in reports) or "<p>No teams.</p>"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )
