"""Many replicas racing on one Redis: limits admit exactly what they allow, never more."""

from __future__ import annotations

import asyncio

import pytest

from gateway.budget import BudgetStore, RateLimit, ReserveRequest, ReserveResult, Window

pytestmark = pytest.mark.redis

TEAM = "race"
NOW = 1_795_780_800_000
REQUESTS = 300
ADMITTED = 37
ESTIMATE = 1_250


def request(i: int, windows: tuple[Window, ...], rates: tuple[RateLimit, ...]) -> ReserveRequest:
    return ReserveRequest(
        team=TEAM,
        reservation_id=f"r{i}",
        estimate_micros=ESTIMATE,
        windows=windows,
        rate_limits=rates,
        now_ms=NOW,
        deadline_ms=NOW + 60_000,
    )


async def race(
    stores: list[BudgetStore], windows: tuple[Window, ...], rates: tuple[RateLimit, ...]
) -> list[tuple[int, ReserveResult]]:
    """REQUESTS concurrent reserves spread over the stores (separate client connections)."""
    results = await asyncio.gather(
        *(stores[i % len(stores)].reserve(request(i, windows, rates)) for i in range(REQUESTS))
    )
    return list(enumerate(results))


async def test_budget_admits_exactly_k(redis_stores: list[BudgetStore]) -> None:
    day = Window("team", "day", "2026-11-27", ADMITTED * ESTIMATE, 172_800)
    results = await race(redis_stores, (day,), ())
    admitted = [i for i, r in results if r.admitted]
    assert len(admitted) == ADMITTED
    assert {r.reason for _, r in results if not r.admitted} == {"budget_exceeded"}
    snap = await redis_stores[0].snapshot(TEAM, [day], [], NOW)
    assert snap.window_states[0].reserved_micros == ADMITTED * ESTIMATE

    await asyncio.gather(
        *(redis_stores[i % 3].settle(TEAM, f"r{i}", ESTIMATE - (i % 2), NOW + 1) for i in admitted)
    )
    state = (await redis_stores[1].snapshot(TEAM, [day], [], NOW)).window_states[0]
    assert state.reserved_micros == 0
    assert state.spent_micros == sum(ESTIMATE - (i % 2) for i in admitted)
    assert state.spent_micros <= day.limit_micros


async def test_requests_per_minute_admits_exactly_k(redis_stores: list[BudgetStore]) -> None:
    rate = RateLimit("key:k1", requests_per_minute=ADMITTED)
    results = await race(redis_stores, (), (rate,))
    assert sum(r.admitted for _, r in results) == ADMITTED
    assert {r.reason for _, r in results if not r.admitted} == {"rate_limited"}
    snap = await redis_stores[2].snapshot(TEAM, [], [rate], NOW)
    assert snap.rate_states[0].requests_remaining == 0
    assert snap.rate_states[0].in_flight == ADMITTED


async def test_concurrency_admits_exactly_k(redis_stores: list[BudgetStore]) -> None:
    rate = RateLimit("team", max_concurrent=ADMITTED)
    results = await race(redis_stores, (), (rate,))
    admitted = [i for i, r in results if r.admitted]
    assert len(admitted) == ADMITTED
    assert {r.reason for _, r in results if not r.admitted} == {"concurrency_limited"}
    assert max(r.rate_states[0].in_flight for _, r in results) == ADMITTED

    await asyncio.gather(*(redis_stores[i % 3].release(TEAM, f"r{i}", NOW) for i in admitted))
    snap = await redis_stores[0].snapshot(TEAM, [], [rate], NOW)
    assert snap.rate_states[0].in_flight == 0
