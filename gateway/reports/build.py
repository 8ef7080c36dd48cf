"""``build_team_report``: daily usage aggregates + policy + period -> ``TeamReport`` (pure).

The aggregates are the counters of ``gateway.usage`` (one mapping of field -> int per
UTC day). Days missing from the mapping count as zero. No I/O and no clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import date
from typing import Literal

from gateway.pipeline.routing import MODEL_REASON, model_tier, share_setting
from gateway.policy.schema import Budget, Policy
from gateway.reports.model import (
    BudgetUsage,
    BudgetWindowUsage,
    Cancelled,
    CategoryUsage,
    DailyUsage,
    Disconnected,
    FlagshipShare,
    Money,
    ReasonCount,
    Rejections,
    ReportPeriod,
    RoutingOutcomes,
    SourceUsage,
    TeamReport,
    TierLatency,
    TierUsage,
    Totals,
    Unsettled,
)
from gateway.reports.verification import verification_summary
from gateway.usage import LATENCY_BUCKETS_MS

DayAggregates = Mapping[str, int]
TOP_REASONS = 10
REJECTION_KINDS = ("budget", "rate", "upstream", "other")


def percent(part: int, whole: int) -> float:
    return round(part * 100 / whole, 2) if whole else 0.0


def build_team_report(
    team: str,
    policy: Policy,
    aggregates_by_day: Mapping[str, DayAggregates],
    period: ReportPeriod,
) -> TeamReport:
    days = {d: dict(aggregates_by_day.get(d.isoformat(), {})) for d in period.dates()}
    total: Counter[str] = Counter()
    for fields in days.values():
        total.update(fields)
    tiers = report_tiers(policy, total)
    cost, baseline = total["cost_micros"], total["baseline_micros"]
    budgets = policy.teams[team].budgets if team in policy.teams else ()
    return TeamReport(
        team=team,
        period=period,
        totals=Totals(
            requests=total["requests"],
            images=total["images"],
            text_tokens=total["text_tokens"],
            image_tokens=total["image_tokens"],
            cost=Money.of(cost),
            baseline=Money.of(baseline),
            savings=Money.of(baseline - cost),
            savings_percent=round((baseline - cost) * 100 / baseline, 2) if baseline else None,
            live=SourceUsage(
                requests=total["requests"] - total["source:batch:requests"],
                images=total["images"] - total["source:batch:images"],
                cost=Money.of(cost - total["source:batch:cost_micros"]),
            ),
            batch=SourceUsage(
                requests=total["source:batch:requests"],
                images=total["source:batch:images"],
                cost=Money.of(total["source:batch:cost_micros"]),
            ),
        ),
        budgets=[budget_usage(budget, days, period) for budget in budgets],
        tiers=[tier_usage(tier, total) for tier in tiers],
        categories=sorted(
            (
                CategoryUsage(category=name.split(":")[1], requests=value)
                for name, value in total.items()
                if name.startswith("cat:") and name.endswith(":requests")
            ),
            key=lambda c: (-c.requests, c.category),
        ),
        routing=RoutingOutcomes(
            downgrades=total["downgraded"],
            fallbacks=total["fallbacks"],
            rejections=Rejections(
                **{kind: total[f"rejected:{kind}"] for kind in REJECTION_KINDS},
                total=sum(total[f"rejected:{kind}"] for kind in REJECTION_KINDS),
            ),
            unsettled=Unsettled(
                requests=total["unsettled"], cost=Money.of(total["unsettled_micros"])
            ),
            cancelled=Cancelled(
                requests=total["cancelled"], cost=Money.of(total["cancelled_micros"])
            ),
            disconnected=Disconnected(
                requests=total["disconnected"], cost=Money.of(total["disconnected_micros"])
            ),
        ),
        top_reasons=[
            ReasonCount(code=code, count=count)
            for code, count in sorted(
                (
                    (name.removeprefix("reason:"), value)
                    for name, value in total.items()
                    if name.startswith("reason:") and value
                ),
                key=lambda item: (-item[1], item[0]),
            )[:TOP_REASONS]
        ],
        flagship_share=flagship_share(policy, team, total),
        verification=verification_summary(total, baseline - cost),
        daily=[
            DailyUsage(
                date=day,
                requests=fields.get("requests", 0),
                images=fields.get("images", 0),
                cost=Money.of(fields.get("cost_micros", 0)),
                baseline=Money.of(fields.get("baseline_micros", 0)),
                tier_cost={t: Money.of(fields.get(f"tier:{t}:cost_micros", 0)) for t in tiers},
                batch_images=fields.get("source:batch:images", 0),
                batch_cost=Money.of(fields.get("source:batch:cost_micros", 0)),
                verified=fields.get("verify:requests", 0),
                escalations=fields.get("verify:escalated", 0),
            )
            for day, fields in days.items()
        ],
    )


def flagship_share(policy: Policy, team: str, total: Mapping[str, int]) -> FlagshipShare:
    """The flagship's share of the routed requests (those that named a tier left out), with
    the target and threshold the policy sets for the team now."""
    tier = model_tier(policy)
    forced = sum(total.get(f"reason:forced:{name}", 0) for name in policy.tiers)
    routed = total.get("requests", 0) - forced
    flagship = 0
    if tier is not None:
        flagship = total.get(f"tier:{tier}:requests", 0) - total.get(f"reason:forced:{tier}", 0)
    target, threshold = share_setting(policy, policy.teams.get(team))
    return FlagshipShare(
        tier=tier,
        routed_requests=routed,
        flagship_requests=flagship,
        share=round(flagship / routed, 4) if routed > 0 else None,
        target=target,
        threshold=round(threshold, 4),
        model_changed=total.get(f"reason:{MODEL_REASON}", 0),
    )


def report_tiers(policy: Policy, total: Mapping[str, int]) -> list[str]:
    """The policy's tiers in precedence order, then any other tier the aggregates name."""
    tiers = list(policy.routing.precedence)
    tiers += [t for t in policy.tiers if t not in tiers]
    seen = sorted({name.split(":")[1] for name in total if name.startswith("tier:")})
    return tiers + [t for t in seen if t not in tiers]


def tier_usage(tier: str, total: Mapping[str, int]) -> TierUsage:
    images = total.get(f"tier:{tier}:images", 0)
    return TierUsage(
        tier=tier,
        requests=total.get(f"tier:{tier}:requests", 0),
        images=images,
        images_percent=percent(images, total.get("images", 0)),
        cost=Money.of(total.get(f"tier:{tier}:cost_micros", 0)),
        latency=tier_latency(tier, total),
    )


def tier_latency(tier: str, total: Mapping[str, int]) -> TierLatency:
    """Mean from the latency sum; p95 from the histogram, as the bucket's upper bound."""
    bounds = [str(b) for b in LATENCY_BUCKETS_MS] + ["inf"]
    counts = [total.get(f"tier:{tier}:latency_le:{b}", 0) for b in bounds]
    samples = sum(counts)
    if not samples:
        return TierLatency(samples=0, mean_ms=None, p95_ms=None, p95_bucket=None)
    target, cumulative, p95_bucket = 0.95 * samples, 0, bounds[-1]
    for bound, count in zip(bounds, counts, strict=True):
        cumulative += count
        if cumulative >= target:
            p95_bucket = bound
            break
    return TierLatency(
        samples=samples,
        mean_ms=round(total.get(f"tier:{tier}:latency_ms_sum", 0) / samples, 1),
        p95_ms=None if p95_bucket == "inf" else int(p95_bucket),
        p95_bucket=p95_bucket,
    )


def budget_usage(
    budget: Budget, days: Mapping[date, DayAggregates], period: ReportPeriod
) -> BudgetUsage:
    """Spend per budget window (day or calendar month) within the report period."""
    spent: dict[str, int] = {}
    covered: Counter[str] = Counter()
    for day, fields in days.items():
        bucket = day.isoformat() if budget.period == "day" else day.strftime("%Y-%m")
        spent[bucket] = spent.get(bucket, 0) + fields.get("cost_micros", 0)
        covered[bucket] += 1
    limit = budget.limit_micros
    windows = []
    for bucket, amount in spent.items():
        state: Literal["ok", "soft", "over"] = (
            "over"
            if amount >= limit
            else "soft"
            if amount >= budget.soft_limit_fraction * limit
            else "ok"
        )
        whole = 1 if budget.period == "day" else days_in_month(bucket)
        windows.append(
            BudgetWindowUsage(
                bucket=bucket,
                spent=Money.of(amount),
                percent_used=percent(amount, limit),
                state=state,
                partial=covered[bucket] < whole,
            )
        )
    return BudgetUsage(
        period=budget.period.value,
        limit=Money.of(limit),
        soft_limit_fraction=budget.soft_limit_fraction,
        windows=windows,
        windows_over_soft=sum(w.state != "ok" for w in windows),
        windows_over_limit=sum(w.state == "over" for w in windows),
        peak=Money.of(max(spent.values(), default=0)),
    )


def days_in_month(bucket: str) -> int:
    year, month = (int(part) for part in bucket.split("-"))
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - date(year, month, 1)).days
