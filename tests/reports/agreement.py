"""Check every report format against warehouse-style sums of the exported ledger."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import httpx
import jsonschema
import orjson

from gateway.budget.store import BudgetStore
from gateway.reports import TeamReport, usd_string
from gateway.reports.export import export_ledger
from gateway.reports.schema import checked_in_schema
from tests.reports.seed import LedgerSums, ledger_sums


def today() -> date:
    return datetime.now(UTC).date()


async def exported_events(
    store: BudgetStore, team: str, since: date, until: date
) -> list[dict[str, str]]:
    out = io.BytesIO()
    await export_ledger(store, [team], since, until, out)
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


async def assert_reports_agree(
    client: httpx.AsyncClient, store: BudgetStore, team: str, headers: dict[str, str]
) -> LedgerSums:
    """Every format of `team`'s report for yesterday..tomorrow matches its ledger exactly."""
    start = date.fromordinal(today().toordinal() - 1)
    end = date.fromordinal(today().toordinal() + 1)
    events = await exported_events(store, team, start, end)
    assert events and all(e["team"] == team for e in events)
    sums = ledger_sums(events)
    query = {"from": start.isoformat(), "to": end.isoformat()}
    url = f"/v1/reports/teams/{team}"

    got = await client.get(url, params=query, headers=headers)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/json"
    data = got.json()
    jsonschema.Draft202012Validator(checked_in_schema()).validate(data)
    report = TeamReport.model_validate(data)
    assert report.totals.cost.micros == sums.cost_micros
    assert report.totals.cost.usd == usd_string(sums.cost_micros)
    assert report.totals.baseline.micros == sums.baseline_micros
    assert report.totals.savings.micros == sums.baseline_micros - sums.cost_micros
    assert (report.totals.requests, report.totals.images) == (sums.requests, sums.images)
    assert {t.tier: t.cost.micros for t in report.tiers if t.cost.micros} == {
        tier: cost for tier, cost in sums.tier_cost.items() if cost
    }
    assert {d.date: d.cost.micros for d in report.daily if d.cost.micros} == {
        d: cost for d, cost in sums.day_cost.items() if cost
    }

    got = await client.get(url, params={**query, "format": "csv"}, headers=headers)
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(got.text)))
    total = rows[-1]
    assert total["date"] == "total" and total["team"] == team
    assert int(total["cost_micros"]) == sums.cost_micros
    assert total["cost_usd"] == usd_string(sums.cost_micros)
    assert int(total["baseline_micros"]) == sums.baseline_micros
    assert sum(int(r["cost_micros"]) for r in rows[:-1]) == sums.cost_micros
    for tier, cost in sums.tier_cost.items():
        assert int(total[f"{tier}_cost_micros"]) == cost
    assert {
        date.fromisoformat(r["date"]): int(r["cost_micros"])
        for r in rows[:-1]
        if int(r["cost_micros"])
    } == {d: c for d, c in sums.day_cost.items() if c}

    got = await client.get(url, params={**query, "format": "md"}, headers=headers)
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/markdown")
    assert f"Spend ${usd_string(sums.cost_micros)} · {sums.images} images" in got.text
    for d, cost in sums.day_cost.items():
        assert f"| {d} |" in got.text and f"| {usd_string(cost)} |" in got.text

    got = await client.get(url, params={**query, "format": "html"}, headers=headers)
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/html")
    assert f"exact: ${usd_string(sums.cost_micros)}" in got.text
    return sums
