"""A seeded multi-week report (memory store, real settle + aggregates) for HTML tests and docs.

``python -m tests.reports.sample docs/img/report.png`` regenerates the docs screenshot.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import yaml

from gateway.budget import open_store
from gateway.budget.store import Aggregates
from gateway.policy.loader import load_policy_text
from gateway.reports import ReportPeriod, TeamReport, build_team_report, usd_string
from gateway.usage import rejection_increments
from tests.conftest import policy_dict
from tests.reports.seed import seed_requests

START = date(2026, 3, 1)
DAYS = 21


async def sample_report() -> TeamReport:
    raw = policy_dict()
    raw["teams"]["demo"]["budgets"] = [
        {"period": "day", "limit_usd": 6.0},
        {"period": "month", "limit_usd": 90.0},
    ]
    policy = load_policy_text(yaml.safe_dump(raw), env={})
    store = open_store("memory://")
    rng = random.Random(42)
    for i in range(DAYS):
        day = START + timedelta(days=i)
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        weekday = day.weekday() < 5
        await seed_requests(
            store, "demo", rng.randint(40, 80) if weekday else rng.randint(5, 20), noon, rng
        )
        verified = rng.randint(5, 15)
        escalated = rng.randint(0, verified // 3)
        await store.add_aggregates(
            "demo",
            Aggregates(
                day.isoformat(),
                {
                    "verify:requests": verified,
                    "verify:tier:efficient:checked": verified,
                    "verify:tier:efficient:passed": verified - escalated,
                    "verify:cat:headline:checked": verified,
                    "verify:cat:headline:passed": verified - escalated,
                    "verify:escalated": escalated,
                    "verify:escalation_micros": escalated * 35_112,
                },
                86_400,
            ),
        )
        if i in (8, 9):  # a campaign push: up against the day budget, some requests refused
            await seed_requests(store, "demo", 70, noon, rng)
            await store.add_aggregates(
                "demo", Aggregates(day.isoformat(), rejection_increments("budget"), 86_400)
            )
    period = ReportPeriod(start=START, end=START + timedelta(days=DAYS - 1))
    aggregates = await store.aggregates("demo", period.buckets())
    return build_team_report("demo", policy, aggregates, period)


def main(out: str) -> None:
    from gateway.reports.html import render_html
    from tests.reports.chromium import screenshot

    report = asyncio.run(sample_report())
    with tempfile.TemporaryDirectory() as work:
        page = Path(work) / "report.html"
        page.write_text(render_html([report]))
        screenshot("chromium", page, Path(work), Path(out).resolve(), window="1100,1700")
    print(f"wrote {out}: spend ${usd_string(report.totals.cost.micros)}")


if __name__ == "__main__":
    main(sys.argv[1])
