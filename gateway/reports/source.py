"""Read a team's usage aggregates and ledger pages from the budget store (the I/O edge).

The store methods are typed here as protocols with positional-only parameters, so any
store with `aggregates(team, buckets)` and `ledger_range(team, start_ms, end_ms, count,
after_id)` qualifies, whatever it names its parameters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from gateway.policy.schema import Policy
from gateway.reports.build import build_team_report
from gateway.reports.model import ReportPeriod, TeamReport

LedgerEntry = tuple[str, Mapping[str, str]]
LEDGER_PAGE = 500


class AggregateReader(Protocol):
    async def aggregates(
        self, team: str, buckets: Sequence[str], /
    ) -> Mapping[str, Mapping[str, int]]: ...


class LedgerReader(Protocol):
    async def ledger_range(
        self, team: str, start_ms: int, end_ms: int, count: int, after_id: str | None, /
    ) -> Sequence[LedgerEntry]: ...


async def team_report(
    store: AggregateReader, policy: Policy, team: str, period: ReportPeriod
) -> TeamReport:
    aggregates = await store.aggregates(team, period.buckets())
    return build_team_report(team, policy, aggregates, period)


def day_start_ms(day: date) -> int:
    return int(datetime.combine(day, time(), tzinfo=UTC).timestamp() * 1000)


def period_ms(since: date, until: date) -> tuple[int, int]:
    """[start_ms, end_ms) of the UTC days `since` .. `until` (both days included)."""
    return day_start_ms(since), day_start_ms(until + timedelta(days=1))


async def ledger_entries(
    store: LedgerReader, team: str, start_ms: int, end_ms: int, page: int = LEDGER_PAGE
) -> AsyncIterator[LedgerEntry]:
    """Every ledger entry of `team` with stream-id time in [start_ms, end_ms), oldest first."""
    after: str | None = None
    while True:
        entries = await store.ledger_range(team, start_ms, end_ms, page, after)
        for entry in entries:
            yield entry
        if len(entries) < page:
            return
        after = entries[-1][0]
