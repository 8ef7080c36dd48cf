"""The pure report builder and the json/csv/md renderers, on plain aggregate dicts."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import date

import jsonschema
import pytest
import yaml

from gateway.policy.loader import load_policy_text
from gateway.policy.schema import Policy
from gateway.reports import ReportPeriod, TeamReport, build_team_report, render_reports, usd_string
from gateway.reports.build import tier_latency
from gateway.reports.schema import checked_in_schema, team_report_schema
from gateway.usage import rejection_increments, success_increments, unsettled_increments
from tests.conftest import policy_dict


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy_text(yaml.safe_dump(policy_dict()), env={})


def day(*parts: dict[str, int]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for p in parts:
        total.update(p)
    return dict(total)


def ok(
    tier: str,
    cost: int,
    baseline: int,
    latency_ms: float,
    *,
    images: int = 1,
    categories: tuple[str, ...] = ("general",),
    reasons: tuple[str, ...] = ("default",),
    downgraded: bool = False,
    fallback: bool = False,
) -> dict[str, int]:
    return success_increments(
        tier=tier,
        images=images,
        cost_micros=cost,
        baseline_micros=baseline,
        text_tokens=10,
        image_tokens=1056 * images,
        latency_ms=latency_ms,
        categories=categories,
        reasons=reasons,
        downgraded=downgraded,
        fallback=fallback,
    )


AGGREGATES = {
    "2026-03-01": day(
        ok(
            "flagship",
            35_000,
            35_000,
            900,
            categories=("photorealism",),
            reasons=("photorealism:term_dslr",),
        ),
        ok(
            "efficient",
            20_000,
            35_000,
            450,
            images=2,
            categories=("headline", "mockup"),
            reasons=("headline:quoted_text_2_tokens",),
            downgraded=True,
        ),
        rejection_increments("budget"),
    ),
    "2026-03-03": day(
        ok("efficient", 21_000, 36_000, 30_000, fallback=True),
        unsettled_increments(
            tier="flagship",
            images=1,
            estimate_micros=40_000,
            baseline_micros=40_000,
            categories=("anime",),
        ),
        rejection_increments("rate"),
        rejection_increments("rate"),
    ),
    "2026-02-28": day(ok("flagship", 999_999, 999_999, 100)),  # outside the period
}
PERIOD = ReportPeriod(start=date(2026, 3, 1), end=date(2026, 3, 3))


def test_totals_tiers_and_daily_series(policy: Policy) -> None:
    report = build_team_report("demo", policy, AGGREGATES, PERIOD)
    t = report.totals
    assert (t.requests, t.images) == (4, 5)
    assert t.cost.micros == 35_000 + 20_000 + 21_000 + 40_000
    assert t.cost.usd == "0.116000"
    assert t.baseline.micros == 35_000 + 35_000 + 36_000 + 40_000
    assert t.savings.micros == t.baseline.micros - t.cost.micros == 30_000
    assert t.savings_percent == round(30_000 * 100 / 146_000, 2)
    tiers = {x.tier: x for x in report.tiers}
    assert [x.tier for x in report.tiers] == ["flagship", "efficient"]  # policy precedence
    assert tiers["flagship"].cost.micros == 75_000 and tiers["flagship"].requests == 2
    assert tiers["efficient"].images == 3 and tiers["efficient"].images_percent == 60.0
    assert [d.date for d in report.daily] == PERIOD.dates()  # empty days are zero rows
    assert report.daily[1].requests == 0 and report.daily[1].cost.usd == "0.000000"
    assert report.daily[2].tier_cost["flagship"].micros == 40_000
    assert sum(d.cost.micros for d in report.daily) == t.cost.micros


def test_routing_outcomes_categories_and_reasons(policy: Policy) -> None:
    report = build_team_report("demo", policy, AGGREGATES, PERIOD)
    r = report.routing
    assert (r.downgrades, r.fallbacks) == (1, 1)
    assert (r.rejections.budget, r.rejections.rate, r.rejections.total) == (1, 2, 3)
    assert (r.unsettled.requests, r.unsettled.cost.micros) == (1, 40_000)
    assert [(c.category, c.requests) for c in report.categories] == [
        ("anime", 1),
        ("general", 1),
        ("headline", 1),
        ("mockup", 1),
        ("photorealism", 1),
    ]
    assert [(x.code, x.count) for x in report.top_reasons] == [
        ("default", 1),
        ("headline:quoted_text_2_tokens", 1),
        ("photorealism:term_dslr", 1),
    ]


def test_latency_mean_and_p95_from_the_histogram() -> None:
    fields = day(
        *(ok("efficient", 1, 1, 90) for _ in range(94)),
        ok("efficient", 1, 1, 700),
        *(ok("efficient", 1, 1, 5000) for _ in range(5)),
    )
    latency = tier_latency("efficient", fields)
    assert latency.samples == 100
    assert latency.mean_ms == round((94 * 90 + 700 + 5 * 5000) / 100, 1)
    assert (latency.p95_ms, latency.p95_bucket) == (1000, "1000")  # cumulative 95 at <= 1000
    slow = tier_latency("efficient", day(ok("efficient", 1, 1, 61_000)))
    assert (slow.p95_ms, slow.p95_bucket) == (None, "inf")
    unsettled_only = unsettled_increments(
        tier="efficient", images=1, estimate_micros=5, baseline_micros=5, categories=()
    )
    assert tier_latency("efficient", unsettled_only).samples == 0


def test_budget_windows(policy: Policy) -> None:
    heavy = {"2026-03-01": {"cost_micros": 21_000_000}, "2026-03-02": {"cost_micros": 25_000_000}}
    report = build_team_report("demo", policy, heavy, PERIOD)  # demo: $25/day, $500/month
    by_period = {b.period: b for b in report.budgets}
    days = by_period["day"]
    assert [(w.bucket, w.state) for w in days.windows] == [
        ("2026-03-01", "soft"),
        ("2026-03-02", "over"),
        ("2026-03-03", "ok"),
    ]
    assert (days.windows_over_soft, days.windows_over_limit) == (2, 1)
    assert days.peak.micros == 25_000_000 and days.limit.usd == "25.000000"
    [month] = by_period["month"].windows
    assert (month.bucket, month.spent.micros, month.partial) == ("2026-03", 46_000_000, True)
    assert month.percent_used == 9.2
    assert build_team_report("alpha", policy, heavy, PERIOD).budgets == []


def test_usd_strings_are_exact() -> None:
    assert usd_string(0) == "0.000000"
    assert usd_string(1) == "0.000001"
    assert usd_string(2**53 - 1) == "9007199254.740991"
    assert usd_string(-1_500_000) == "-1.500000"


def test_period_validation() -> None:
    with pytest.raises(ValueError, match="before its start"):
        ReportPeriod(start=date(2026, 3, 2), end=date(2026, 3, 1))
    with pytest.raises(ValueError, match="at most"):
        ReportPeriod(start=date(2025, 1, 1), end=date(2026, 3, 1))
    # The last year a date can hold would need month arithmetic into year 10000.
    with pytest.raises(ValueError, match="end before 9999"):
        ReportPeriod(start=date(9999, 12, 1), end=date(9999, 12, 31))


def test_checked_in_schema_matches_the_model() -> None:
    assert checked_in_schema() == team_report_schema() == TeamReport.model_json_schema()


def test_json_validates_against_the_checked_in_schema(policy: Policy) -> None:
    report = build_team_report("demo", policy, AGGREGATES, PERIOD)
    data = json.loads(render_reports([report], "json", single=True))
    jsonschema.Draft202012Validator(checked_in_schema()).validate(data)
    assert TeamReport.model_validate(data) == report
    both = json.loads(render_reports([report, report], "json", single=False))
    assert isinstance(both, list) and len(both) == 2


def test_csv_parses_and_sums(policy: Policy) -> None:
    report = build_team_report("demo", policy, AGGREGATES, PERIOD)
    rows = list(csv.DictReader(io.StringIO(render_reports([report], "csv", single=True).decode())))
    days, [total] = rows[:-1], rows[-1:]
    assert [r["date"] for r in days] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert total["date"] == "total" and int(total["cost_micros"]) == report.totals.cost.micros
    assert sum(int(r["cost_micros"]) for r in days) == int(total["cost_micros"])
    assert int(total["flagship_cost_micros"]) + int(total["efficient_cost_micros"]) == int(
        total["cost_micros"]
    )
    assert total["savings_usd"] == "0.030000"


def test_markdown_has_every_section(policy: Policy) -> None:
    text = render_reports(
        [build_team_report("demo", policy, AGGREGATES, PERIOD)], "md", single=True
    ).decode()
    for heading in (
        "# tiergate report: team demo",
        "## Budgets",
        "## Tiers",
        "## Categories",
        "## Routing",
        "## Top reason codes",
        "## Daily",
    ):
        assert heading in text
    assert "Spend $0.116000" in text and "saved $0.030000 (20.6%)" in text
    assert "| 2026-03-03 | 2 | 2 | 0.061000 | 0.076000 | 0.040000 | 0.021000 |" in text


def test_the_flagship_share_counts_routed_requests_beside_the_target() -> None:
    raw = policy_dict()
    raw["routing"]["flagship_share_target"] = 0.3
    policy = load_policy_text(yaml.safe_dump(raw), env={})
    aggregates = {
        "2026-01-01": day(
            ok("flagship", 100, 100, 8000, reasons=("photorealism:term_dslr",)),
            ok("flagship", 100, 100, 8000, reasons=("model:flagship_p=0.91",)),
            ok("flagship", 100, 100, 8000, reasons=("forced:flagship",)),
            ok("efficient", 60, 100, 6000, reasons=("general:no_signal",)),
            ok("efficient", 60, 100, 6000, reasons=("mockup:term_logo",)),
            ok("efficient", 60, 100, 6000, reasons=("model:flagship_p=0.12", "general:no_signal")),
        )
    }
    report = build_team_report(
        "demo", policy, aggregates, ReportPeriod(start=date(2026, 1, 1), end=date(2026, 1, 1))
    )
    share = report.flagship_share
    assert (share.routed_requests, share.flagship_requests) == (5, 2)
    assert share.share == 0.4
    assert share.target == 0.3
    assert share.model_changed == 2  # one counter, whatever the probability
    assert share.tier == "flagship"
    markdown = render_reports([report], "md", single=True).decode()
    assert "40.0% of 5 routed requests went to flagship (target 30.0%" in markdown
    html = render_reports([report], "html", single=True).decode()
    assert "Flagship share" in html and "target 30.0%" in html


def test_model_reasons_are_counted_without_their_probability() -> None:
    fields = ok("flagship", 1, 1, 1, reasons=("model:flagship_p=0.87",))
    assert fields["reason:model:flagship_p"] == 1
    assert not any("=" in name for name in fields)
