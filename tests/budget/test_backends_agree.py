"""Differential test: random operation sequences give identical results on memory and Redis."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.budget import (
    Aggregates,
    BudgetStore,
    DuplicateReservation,
    RateLimit,
    ReserveRequest,
    StoreOptions,
    Window,
    open_store,
)

from .conftest import REDIS_URL, delete_prefix, require_redis

pytestmark = pytest.mark.redis

START = 1_795_780_800_000
WINDOWS = (
    Window("team", "day", "2026-11-27", 1_000, 172_800),
    Window("key:k1", "day", "2026-11-27", 600, 172_800),
    Window("team", "hour", "2026-11-27T10", 700, 20),  # expires within a sequence
)
RATES = (
    RateLimit("team", requests_per_minute=6, max_concurrent=3),
    RateLimit("key:k1", requests_per_minute=None, max_concurrent=2),
)
IDS = [f"r{i}" for i in range(6)]
CHARGE_IDS = [*IDS[:2], "c0", "c1"]  # charge ids share the reservation-id namespace
BUCKET = "2026-11-27"
# Tombstones must outlive any sequence: memory expires them by now_ms, Redis by its clock.
OPTIONS = StoreOptions(settled_marker_ttl_seconds=86_400, expired_fields_per_call=2)

# Few distinct values, so sums land exactly on limits and times exactly on deadlines.
AMOUNTS = st.sampled_from([0, 100, 200, 300, 400, 600])
operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("reserve"),
            st.sampled_from(IDS),
            AMOUNTS,
            st.sets(st.integers(0, len(WINDOWS) - 1)),
            st.sets(st.integers(0, len(RATES) - 1)),
            st.sampled_from([0, 5_000, 15_000]),
        ),
        st.tuples(st.just("settle"), st.sampled_from(IDS), AMOUNTS, st.booleans()),
        st.tuples(
            st.just("charge"),
            st.sampled_from(CHARGE_IDS),
            AMOUNTS,
            st.sets(st.integers(0, len(WINDOWS) - 1)),
            st.booleans(),
        ),
        st.tuples(st.just("add_aggregates"), st.integers(-3, 3)),
        st.tuples(st.just("release"), st.sampled_from(IDS)),
        st.tuples(st.just("reap"), st.integers(1, 3)),
        st.tuples(st.just("advance"), st.sampled_from([1, 4_999, 5_000, 20_000, 60_000])),
    ),
    min_size=5,
    max_size=40,
)


@pytest.fixture
async def pair() -> AsyncIterator[tuple[BudgetStore, BudgetStore]]:
    require_redis()
    prefix = f"tgtest-{uuid.uuid4().hex[:12]}"
    memory = open_store("memory://", options=OPTIONS)
    redis_store = open_store(REDIS_URL, key_prefix=prefix, options=OPTIONS)
    yield memory, redis_store
    await memory.close()
    await redis_store.close()
    delete_prefix(prefix)


async def apply(store: BudgetStore, team: str, now: int, op: tuple[Any, ...]) -> object:
    match op:
        case ("reserve", rid, estimate, windows, rates, deadline_in):
            req = ReserveRequest(
                team=team,
                reservation_id=rid,
                estimate_micros=estimate,
                windows=tuple(WINDOWS[i] for i in sorted(windows)),
                rate_limits=tuple(RATES[i] for i in sorted(rates)),
                now_ms=now,
                deadline_ms=now + deadline_in,
                meta={"rid": rid},
            )
            try:
                return await store.reserve(req)
            except DuplicateReservation:
                return "duplicate"
        case ("settle", rid, actual, with_ledger):
            result = await store.settle(
                team,
                rid,
                actual,
                now,
                ledger={"tier": "t"} if with_ledger else None,
                aggregates=aggregates({"cost_micros": actual, "requests": 1}),
            )
            # Stream ids differ by design (server clock vs now_ms); compare their presence.
            return dataclasses.replace(result, ledger_id=None), result.ledger_id is not None
        case ("release", rid):
            return await store.release(team, rid, now)
        case ("reap", limit):
            reaped = await store.reap(team, now, limit)
            assert all(r.ledger_id for r in reaped)
            return [dataclasses.replace(r, ledger_id=None) for r in reaped]
        case ("charge", cid, amount, windows, with_ledger):
            return await store.charge(
                team,
                cid,
                [WINDOWS[i] for i in sorted(windows)],
                amount,
                now,
                ledger={"source": "journal"} if with_ledger else None,
                aggregates=aggregates({"cost_micros": amount, "replayed": 1}),
            )
        case ("add_aggregates", delta):
            await store.add_aggregates(team, aggregates({"rejected:budget": delta}))
            return None
    raise AssertionError(op)


def aggregates(increments: dict[str, int]) -> Aggregates:
    return Aggregates(BUCKET, increments, ttl_seconds=172_800)


async def accounting(store: BudgetStore, team: str) -> tuple[object, ...]:
    """Aggregates and ledger entries (without their stream ids, which differ by design)."""
    ledger = [fields for _, fields in await store.ledger_events(team, count=10_000)]
    return await store.aggregates(team, [BUCKET, "2026-11-26"]), ledger


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=operations)
async def test_memory_and_redis_agree(
    pair: tuple[BudgetStore, BudgetStore], ops: list[tuple[Any, ...]]
) -> None:
    memory, redis_store = pair
    team = f"t{uuid.uuid4().hex[:8]}"  # fresh state for every example
    now = START
    for op in ops:
        if op[0] == "advance":
            now += op[1]
            continue
        expected = await apply(memory, team, now, op)
        actual = await apply(redis_store, team, now, op)
        assert actual == expected, op
        snaps = [await s.snapshot(team, WINDOWS, RATES, now) for s in (memory, redis_store)]
        assert snaps[1] == snaps[0], op
    assert await accounting(redis_store, team) == await accounting(memory, team)
