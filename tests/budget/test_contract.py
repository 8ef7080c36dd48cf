"""The BudgetStore contract, run against every backend (memory:// and redis://)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence

import pytest

from gateway.budget import (
    BudgetStore,
    DuplicateReservation,
    RateLimit,
    ReserveRequest,
    ReserveResult,
    StoreOptions,
    Window,
    WindowState,
)

TEAM = "acme"
NOW = 1_795_780_800_000  # 2026-11-27T10:40:00Z, on a minute boundary
MINUTE = 60_000
DAY_MS = 86_400_000
BUCKETS = {"day": "2026-11-27", "month": "2026-11"}
TTL_SECONDS = {"day": 2 * 86_400, "month": 32 * 86_400}


def window(scope: str = "team", period: str = "day", limit: int = 1_000) -> Window:
    return Window(scope, period, BUCKETS[period], limit, TTL_SECONDS[period])


def request(
    reservation_id: str,
    estimate: int,
    windows: Sequence[Window] = (),
    rates: Sequence[RateLimit] = (),
    *,
    now: int = NOW,
    deadline: int | None = None,
    meta: Mapping[str, str] | None = None,
    team: str = TEAM,
) -> ReserveRequest:
    return ReserveRequest(
        team=team,
        reservation_id=reservation_id,
        estimate_micros=estimate,
        windows=tuple(windows),
        rate_limits=tuple(rates),
        now_ms=now,
        deadline_ms=now + 30_000 if deadline is None else deadline,
        meta=meta or {},
    )


async def states(
    store: BudgetStore, windows: Sequence[Window], now: int = NOW
) -> list[tuple[int, int, int]]:
    snap = await store.snapshot(TEAM, windows, (), now)
    return [(s.spent_micros, s.reserved_micros, s.remaining_micros) for s in snap.window_states]


async def spend(store: BudgetStore, rid: str, amount: int, windows: Sequence[Window]) -> None:
    assert (await store.reserve(request(rid, amount, windows))).admitted
    assert (await store.settle(TEAM, rid, amount, NOW)).outcome == "settled"


# -- reserve --------------------------------------------------------------------------------


async def test_reserve_within_limits_holds_the_estimate(store: BudgetStore) -> None:
    day, month = window(limit=1_000), window(period="month", limit=5_000)
    result = await store.reserve(request("r1", 300, [day, month]))
    assert result.admitted and result.reason == "ok" and result.blocking is None
    assert result.window_states == (
        WindowState("team", "day", "2026-11-27", 1_000, 0, 300, 700),
        WindowState("team", "month", "2026-11", 5_000, 0, 300, 4_700),
    )
    assert await states(store, [day, month]) == [(0, 300, 700), (0, 300, 4_700)]


TIGHT_WINDOWS = [
    pytest.param(("team", "day"), id="team-day"),
    pytest.param(("team", "month"), id="team-month"),
    pytest.param(("key:k1", "day"), id="key-day"),
    pytest.param(("key:k1", "month"), id="key-month"),
]


@pytest.mark.parametrize("tight", TIGHT_WINDOWS)
async def test_refuses_when_any_window_would_be_exceeded_and_changes_nothing(
    store: BudgetStore, tight: tuple[str, str]
) -> None:
    windows = [
        window(scope, period, limit=500 if (scope, period) == tight else 10_000)
        for scope in ("team", "key:k1")
        for period in ("day", "month")
    ]
    rates = [RateLimit("team", requests_per_minute=100, max_concurrent=10), RateLimit("key:k1")]
    await spend(store, "before", 200, windows)
    assert (await store.reserve(request("held", 100, windows, rates))).admitted
    before = await store.snapshot(TEAM, windows, rates, NOW)

    result = await store.reserve(request("too-much", 201, windows, rates))

    assert not result.admitted
    assert result.reason == "budget_exceeded"
    assert result.blocking == f"budget:{tight[1]}:{tight[0]}"
    assert result.window_states == before.window_states  # current values, nothing held
    assert await store.snapshot(TEAM, windows, rates, NOW) == before  # rpm, in-flight too
    assert (await store.settle(TEAM, "too-much", 1, NOW)).outcome == "unknown_reservation"


async def test_exact_boundary(store: BudgetStore) -> None:
    day = window(limit=1_000)
    await spend(store, "spent", 400, [day])
    over = await store.reserve(request("over", 601, [day]))
    assert not over.admitted and over.reason == "budget_exceeded"
    exact = await store.reserve(request("exact", 600, [day]))
    assert exact.admitted
    assert exact.window_states[0].remaining_micros == 0
    one_more = await store.reserve(request("one-more", 1, [day]))
    assert not one_more.admitted
    zero = await store.reserve(request("zero", 0, [day]))
    assert zero.admitted  # a zero estimate always fits


async def test_reserve_with_no_windows_or_rates(store: BudgetStore) -> None:
    result = await store.reserve(request("bare", 10))
    assert result.admitted and result.window_states == () and result.rate_states == ()
    assert (await store.settle(TEAM, "bare", 7, NOW)).outcome == "settled"


async def test_reserve_retry_of_an_outstanding_id_replays(store: BudgetStore) -> None:
    day = window(limit=1_000)
    rate = RateLimit("team", requests_per_minute=10, max_concurrent=5)
    first = await store.reserve(request("r1", 300, [day], [rate]))
    again = await store.reserve(request("r1", 300, [day], [rate]))
    assert again.admitted
    assert again.window_states == first.window_states
    assert again.rate_states == first.rate_states  # not counted twice
    assert await states(store, [day]) == [(0, 300, 700)]


async def test_reserve_of_a_finished_id_is_a_duplicate(store: BudgetStore) -> None:
    await store.reserve(request("r1", 300, [window()]))
    await store.settle(TEAM, "r1", 300, NOW)
    with pytest.raises(DuplicateReservation):
        await store.reserve(request("r1", 300, [window()]))


async def test_teams_are_independent(store: BudgetStore) -> None:
    day = window(limit=100)
    assert (await store.reserve(request("a", 100, [day]))).admitted
    assert (await store.reserve(request("a", 100, [day], team="globex"))).admitted
    assert not (await store.reserve(request("b", 1, [day]))).admitted


# -- settle / release -----------------------------------------------------------------------


@pytest.mark.parametrize("actual", [0, 250, 500, 800])
async def test_settle_records_the_actual_amount(store: BudgetStore, actual: int) -> None:
    day = window(limit=600)
    rate = RateLimit("team", max_concurrent=1)
    await store.reserve(request("r1", 500, [day], [rate]))
    result = await store.settle(TEAM, "r1", actual, NOW + 1_000)
    assert result.outcome == "settled"
    assert (result.estimate_micros, result.actual_micros) == (500, actual)
    assert result.spent_delta_micros == actual
    assert result.ledger_id is None
    # Above the estimate (even above the limit) is recorded: the actual cost is the truth.
    assert await states(store, [day]) == [(actual, 0, max(0, 600 - actual))]
    snap = await store.snapshot(TEAM, [], [rate], NOW)
    assert snap.rate_states[0].in_flight == 0


async def test_settle_is_idempotent(store: BudgetStore) -> None:
    day = window(limit=1_000)
    await store.reserve(request("r1", 500, [day]))
    first = await store.settle(TEAM, "r1", 300, NOW, ledger={"tier": "fast"})
    second = await store.settle(TEAM, "r1", 300, NOW, ledger={"tier": "fast"})
    third = await store.settle(TEAM, "r1", 999, NOW)
    assert first.outcome == "settled"
    assert second.outcome == third.outcome == "already_settled"
    assert second.spent_delta_micros == 0 and second.ledger_id == first.ledger_id
    assert await states(store, [day]) == [(300, 0, 700)]
    assert len(await store.ledger_events(TEAM)) == 1


async def test_settle_of_an_unknown_id(store: BudgetStore) -> None:
    result = await store.settle(TEAM, "never", 100, NOW, ledger={"tier": "fast"})
    assert result.outcome == "unknown_reservation"
    assert result.estimate_micros is None and result.ledger_id is None


async def test_release_is_idempotent(store: BudgetStore) -> None:
    day = window(limit=1_000)
    rate = RateLimit("team", max_concurrent=1)
    await store.reserve(request("r1", 500, [day], [rate]))
    assert await store.release(TEAM, "r1", NOW) is True
    assert await store.release(TEAM, "r1", NOW) is False
    assert await store.release(TEAM, "never", NOW) is False
    assert await states(store, [day]) == [(0, 0, 1_000)]
    snap = await store.snapshot(TEAM, [], [rate], NOW)
    assert snap.rate_states[0].in_flight == 0
    settle = await store.settle(TEAM, "r1", 100, NOW)
    assert settle.outcome == "already_released"
    assert await states(store, [day]) == [(0, 0, 1_000)]


async def test_rejects_bad_arguments(store: BudgetStore) -> None:
    with pytest.raises(ValueError):
        await store.settle(TEAM, "r1", -1, NOW)
    with pytest.raises(ValueError):
        await store.settle(TEAM, "r1", 1, NOW, ledger={"outcome": "mine"})
    with pytest.raises(ValueError):
        await store.snapshot("bad{team}", [], [], NOW)
    with pytest.raises(ValueError):
        request("r1", 1, [window(), window()])
    with pytest.raises(ValueError):
        request("r1", -1)
    with pytest.raises(ValueError):
        Window("team", "day", "2026:11", 1, 1)


# -- rate limits ----------------------------------------------------------------------------


async def test_requests_per_minute_limit_and_reset(store: BudgetStore) -> None:
    rate = RateLimit("key:k1", requests_per_minute=3)
    now = NOW + 15_000  # 45 s before the minute resets
    results: list[ReserveResult] = []
    for i in range(3):
        results.append(await store.reserve(request(f"r{i}", 1, [], [rate], now=now)))
    assert all(r.admitted for r in results)
    assert [r.rate_states[0].requests_remaining for r in results] == [2, 1, 0]
    assert results[-1].rate_states[0].retry_after_ms == 45_000

    refused = await store.reserve(request("r3", 1, [], [rate], now=now))
    assert not refused.admitted and refused.reason == "rate_limited"
    assert refused.blocking == "rpm:key:k1"
    state = refused.rate_states[0]
    assert (state.requests_remaining, state.reset_ms, state.retry_after_ms) == (
        0,
        NOW + MINUTE,
        45_000,
    )
    # A refused request does not count: settling everything frees nothing rpm-wise either.
    for i in range(3):
        await store.settle(TEAM, f"r{i}", 1, now)
    still = await store.reserve(request("r4", 1, [], [rate], now=NOW + MINUTE - 1))
    assert still.reason == "rate_limited"

    fresh = await store.reserve(request("r5", 1, [], [rate], now=NOW + MINUTE))
    assert fresh.admitted
    assert fresh.rate_states[0].requests_remaining == 2
    assert fresh.rate_states[0].reset_ms == NOW + 2 * MINUTE


async def test_budget_refusal_does_not_count_against_rpm(store: BudgetStore) -> None:
    rate = RateLimit("team", requests_per_minute=1)
    refused = await store.reserve(request("big", 2_000, [window(limit=1_000)], [rate]))
    assert refused.reason == "budget_exceeded"
    assert (await store.reserve(request("small", 10, [window(limit=1_000)], [rate]))).admitted


async def test_concurrency_limit_freed_by_settle_and_release(store: BudgetStore) -> None:
    rate = RateLimit("team", max_concurrent=2)
    assert (await store.reserve(request("a", 1, [], [rate]))).admitted
    second = await store.reserve(request("b", 1, [], [rate]))
    assert second.admitted and second.rate_states[0].in_flight == 2
    third = await store.reserve(request("c", 1, [], [rate]))
    assert not third.admitted and third.reason == "concurrency_limited"
    assert third.blocking == "concurrency:team"
    assert third.rate_states[0].in_flight == 2

    await store.settle(TEAM, "a", 1, NOW)
    assert (await store.reserve(request("c", 1, [], [rate]))).admitted
    assert not (await store.reserve(request("d", 1, [], [rate]))).admitted
    await store.release(TEAM, "b", NOW)
    assert (await store.reserve(request("d", 1, [], [rate]))).admitted


async def test_rate_limits_of_several_scopes(store: BudgetStore) -> None:
    team_rate = RateLimit("team", requests_per_minute=10)
    key_rate = RateLimit("key:k1", requests_per_minute=1)
    other_key = RateLimit("key:k2", requests_per_minute=1)
    assert (await store.reserve(request("a", 1, [], [team_rate, key_rate]))).admitted
    refused = await store.reserve(request("b", 1, [], [team_rate, key_rate]))
    assert refused.blocking == "rpm:key:k1"
    assert refused.rate_states[0].requests_remaining == 9
    assert (await store.reserve(request("c", 1, [], [team_rate, other_key]))).admitted
    snap = await store.snapshot(TEAM, [], [team_rate, key_rate, other_key], NOW)
    assert [s.requests_remaining for s in snap.rate_states] == [8, 0, 0]
    assert [s.in_flight for s in snap.rate_states] == [2, 1, 1]


# -- reap -----------------------------------------------------------------------------------


async def test_reap_after_deadline_charges_the_estimate(store: BudgetStore) -> None:
    day = window(limit=1_000)
    rate = RateLimit("team", max_concurrent=1)
    meta = {"tier": "fast", "key_id": "k1", "request_id": "req-1"}
    await store.reserve(request("r1", 400, [day], [rate], deadline=NOW + 5_000, meta=meta))

    assert await store.reap(TEAM, NOW + 4_999) == []
    reaped = await store.reap(TEAM, NOW + 5_000)
    assert [(r.reservation_id, r.estimate_micros, r.deadline_ms) for r in reaped] == [
        ("r1", 400, NOW + 5_000)
    ]
    assert reaped[0].meta == meta and reaped[0].team == TEAM
    assert await states(store, [day]) == [(400, 0, 600)]
    snap = await store.snapshot(TEAM, [], [rate], NOW)
    assert snap.rate_states[0].in_flight == 0
    assert await store.reap(TEAM, NOW + 10_000) == []
    assert await store.release(TEAM, "unrelated", NOW) is False


async def test_reap_respects_limit_and_deadline_order(store: BudgetStore) -> None:
    for i in range(5):
        await store.reserve(request(f"r{i}", 10, [window()], deadline=NOW + 1_000 * (5 - i)))
    first = await store.reap(TEAM, NOW + 10_000, limit=2)
    assert [r.reservation_id for r in first] == ["r4", "r3"]
    rest = await store.reap(TEAM, NOW + 10_000)
    assert sorted(r.reservation_id for r in rest) == ["r0", "r1", "r2"]


async def test_concurrent_reapers_reap_each_reservation_once(
    store: BudgetStore, peer_store: BudgetStore
) -> None:
    day = window(limit=100_000)
    ids = [f"r{i}" for i in range(20)]
    for rid in ids:
        await store.reserve(request(rid, 100, [day], deadline=NOW + 1_000))
    later = NOW + 2_000
    batches = list(
        await asyncio.gather(
            *(store.reap(TEAM, later) for _ in range(3)),
            *(peer_store.reap(TEAM, later) for _ in range(3)),
            *(store.reap(TEAM, later, limit=7) for _ in range(2)),
            *(peer_store.reap(TEAM, later, limit=7) for _ in range(2)),
        )
    )
    batches.append(await store.reap(TEAM, later))  # whatever the limited reapers left
    reaped = [r.reservation_id for batch in batches for r in batch]
    assert sorted(reaped) == sorted(ids)  # every one exactly once
    assert await states(store, [day]) == [(2_000, 0, 98_000)]


async def test_settle_after_reap_corrects_once(store: BudgetStore) -> None:
    day = window(limit=1_000)
    await store.reserve(request("low", 400, [day], deadline=NOW + 1_000))
    await store.reserve(request("high", 100, [day], deadline=NOW + 1_000))
    await store.reserve(request("gone", 50, [day], deadline=NOW + 1_000))
    assert len(await store.reap(TEAM, NOW + 1_000)) == 3
    assert await states(store, [day]) == [(550, 0, 450)]

    low = await store.settle(TEAM, "low", 150, NOW + 2_000, ledger={"tier": "fast"})
    assert low.outcome == "corrected_after_reap"
    assert low.spent_delta_micros == -250 and low.ledger_id is not None
    high = await store.settle(TEAM, "high", 300, NOW + 2_000)
    assert (high.outcome, high.spent_delta_micros) == ("corrected_after_reap", 200)
    assert await states(store, [day]) == [(500, 0, 500)]

    again = await store.settle(TEAM, "low", 150, NOW + 3_000)
    assert again.outcome == "already_settled" and again.spent_delta_micros == 0
    assert await states(store, [day]) == [(500, 0, 500)]

    # Releasing a reaped reservation refunds the estimate, once.
    assert await store.release(TEAM, "gone", NOW + 3_000) is True
    assert await store.release(TEAM, "gone", NOW + 3_000) is False
    assert await states(store, [day]) == [(450, 0, 550)]


# -- snapshot -------------------------------------------------------------------------------


async def test_snapshot_numbers(store: BudgetStore) -> None:
    team_day, key_day = window(limit=10_000), window("key:k1", limit=1_000)
    team_month = window(period="month", limit=100_000)
    rates = [
        RateLimit("team", requests_per_minute=100, max_concurrent=10),
        RateLimit("key:k1", requests_per_minute=5),
        RateLimit("key:k2"),
    ]
    windows = [team_day, key_day, team_month]
    await spend(store, "s1", 700, windows)
    await store.reserve(request("h1", 200, windows, rates[:2]))
    await store.reserve(request("h2", 50, [team_day, team_month], [rates[0], rates[2]]))

    snap = await store.snapshot(TEAM, windows, rates, NOW + 30_000)
    assert snap.team == TEAM and snap.now_ms == NOW + 30_000
    assert [
        (s.scope, s.period, s.spent_micros, s.reserved_micros, s.remaining_micros)
        for s in snap.window_states
    ] == [
        ("team", "day", 700, 250, 9_050),
        ("key:k1", "day", 700, 200, 100),
        ("team", "month", 700, 250, 99_050),
    ]
    # "s1" had no rate limits; h1 and h2 count where listed.
    assert [
        (s.scope, s.requests_remaining, s.in_flight, s.retry_after_ms) for s in snap.rate_states
    ] == [("team", 98, 2, 0), ("key:k1", 4, 1, 0), ("key:k2", None, 1, None)]
    assert snap.rate_states[0].reset_ms == NOW + MINUTE

    empty = await store.snapshot("nobody", windows, rates, NOW)
    assert [s.remaining_micros for s in empty.window_states] == [10_000, 1_000, 100_000]
    assert [s.in_flight for s in empty.rate_states] == [0, 0, 0]


async def test_window_counters_expire_after_their_ttl(store: BudgetStore) -> None:
    short = Window("team", "hour", "2026-11-27T10", 1_000, ttl_seconds=60)
    await spend(store, "s1", 900, [short])
    assert not (await store.reserve(request("r1", 200, [short], now=NOW + 1_000))).admitted
    # The counters live ttl_seconds past the last write or the reservation's deadline
    # (here NOW + 30 s), whichever is later; then they are gone.
    later = NOW + 30_000 + 60_000
    assert not (await store.reserve(request("r1b", 200, [short], now=later - 1))).admitted
    assert (await store.reserve(request("r2", 200, [short], now=later))).admitted
    assert await states(store, [short], later) == [(0, 200, 800)]


# -- ledger ---------------------------------------------------------------------------------


async def test_settle_writes_the_ledger_entry(store: BudgetStore) -> None:
    await store.reserve(request("r1", 500, [window()]))
    ledger = {"tier": "fast", "category": "icon", "key_id": "k1", "cost_micros": "321"}
    result = await store.settle(TEAM, "r1", 321, NOW, ledger=ledger)
    assert result.ledger_id is not None
    events = await store.ledger_events(TEAM)
    assert events == [
        (
            result.ledger_id,
            {
                "reservation_id": "r1",
                "outcome": "settled",
                "estimate_micros": "500",
                "actual_micros": "321",
                **ledger,
            },
        )
    ]


# -- latency --------------------------------------------------------------------------------


async def test_latency_percentiles(store: BudgetStore) -> None:
    values = list(range(1, 101))
    for i, v in enumerate(reversed(values)):
        await store.record_latency("fast", float(v), NOW + i)
    await store.record_latency("slow", 2_500.5, NOW)
    stats = await store.latency_stats(["fast", "slow", "idle"], 60, NOW + 1_000)
    assert (stats["fast"].count, stats["fast"].p50_ms, stats["fast"].p95_ms) == (100, 50, 95)
    assert (stats["slow"].count, stats["slow"].p50_ms, stats["slow"].p95_ms) == (
        1,
        2_500.5,
        2_500.5,
    )
    assert (stats["idle"].count, stats["idle"].p50_ms, stats["idle"].p95_ms) == (0, None, None)


async def test_latency_window_excludes_old_samples(store: BudgetStore) -> None:
    for i in range(10):
        await store.record_latency("fast", 1_000.0, NOW - 120_000 + i)  # two minutes ago
    for i in range(10):
        await store.record_latency("fast", 10.0 * (i + 1), NOW - 30_000 + i)
    recent = (await store.latency_stats(["fast"], 60, NOW))["fast"]
    assert (recent.count, recent.p50_ms, recent.p95_ms) == (10, 50, 100)
    wide = (await store.latency_stats(["fast"], 300, NOW))["fast"]
    assert (wide.count, wide.p95_ms) == (20, 1_000)


@pytest.mark.parametrize(
    "store_options", [StoreOptions(latency_max_samples=50, latency_max_age_seconds=600)]
)
async def test_latency_memory_is_bounded_by_count_and_age(store: BudgetStore) -> None:
    for i in range(80):
        await store.record_latency("fast", float(i), NOW + i)
    stats = (await store.latency_stats(["fast"], 3_600, NOW + 100))["fast"]
    assert stats.count == 50  # the oldest 30 were trimmed
    assert stats.p50_ms == 54
    # A sample recorded past the max age trims everything older than it.
    await store.record_latency("fast", 7.0, NOW + 600_000 + 50)
    stats = (await store.latency_stats(["fast"], 3_600, NOW + 600_100))["fast"]
    assert (stats.count, stats.p50_ms) == (31, 64)


async def test_settle_can_record_latency_in_the_same_round_trip(store: BudgetStore) -> None:
    await store.reserve(request("r1", 500, [window()]))
    result = await store.settle(
        TEAM, "r1", 200, NOW, ledger={"tier": "fast"}, latency=("fast", 1_234.0)
    )
    assert result.outcome == "settled" and result.ledger_id is not None
    stats = (await store.latency_stats(["fast"], 60, NOW))["fast"]
    assert (stats.count, stats.p50_ms) == (1, 1_234.0)
    with pytest.raises(ValueError):
        await store.record_latency("fast", math.nan, NOW)


async def test_ping(store: BudgetStore) -> None:
    assert await store.ping() is True
