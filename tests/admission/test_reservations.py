"""Admission above the store: a late settle after a reap is counted once in spend and aggregates."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from gateway.admission.reaper import reap_once
from gateway.admission.reservations import Admission
from gateway.auth import KeyRing
from gateway.budget import Aggregates, BudgetStore, StoreUnavailable, open_store
from gateway.errors import StoreUnavailable as GatewayStoreUnavailable
from gateway.policy.loader import load_policy_text
from gateway.usage import day_bucket, success_increments, unsettled_increments
from tests.conftest import TEAM_KEYS, policy_dict
from tests.gateway_harness import delete_prefix
from tests.support import REDIS_URL, require_redis

POLICY = load_policy_text(
    yaml.safe_dump(policy_dict(alpha={"budgets": [{"period": "day", "limit_usd": 10}]})), env={}
)
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["memory://", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[BudgetStore]:
    prefix = "tgadm-" + uuid.uuid4().hex[:8]
    if request.param == "redis":
        require_redis()
        opened = open_store(REDIS_URL, key_prefix=prefix)
    else:
        opened = open_store("memory://", key_prefix=prefix)
    yield opened
    await opened.close()
    if request.param == "redis":
        await delete_prefix(prefix)


async def test_settle_after_reap_counts_the_request_once(store: BudgetStore) -> None:
    admission = Admission(POLICY, store, grace_seconds=0)
    principal = KeyRing(POLICY).authenticate(f"Bearer {TEAM_KEYS['alpha']}")
    meta = {
        "tier": "flagship",
        "n": "1",
        "categories": "photorealism",
        "baseline_estimate_micros": "40000",
    }
    ticket = await admission.reserve(principal, "r1", 40_000, 1.0, NOW, meta)
    later = NOW + timedelta(seconds=5)
    assert await reap_once(POLICY, store, lambda: later) == 1
    if_reaped = unsettled_increments(
        tier="flagship",
        images=1,
        estimate_micros=40_000,
        baseline_micros=40_000,
        categories=["photorealism"],
    )
    usage = success_increments(
        tier="flagship",
        images=1,
        cost_micros=35_000,
        baseline_micros=35_000,
        text_tokens=10,
        image_tokens=1056,
        latency_ms=900,
        categories=["photorealism"],
        reasons=[],
        downgraded=False,
        fallback=False,
    )
    await admission.settle(ticket, 35_000, later, usage=usage, if_reaped=if_reaped)
    snapshot = await admission.snapshot(principal, later)
    day = next(w for w in snapshot.window_states if w.period == "day")
    assert (day.spent_micros, day.reserved_micros) == (35_000, 0)
    aggregates = (await store.aggregates("alpha", [day_bucket(later)]))[day_bucket(later)]
    assert aggregates["requests"] == 1
    assert aggregates["cost_micros"] == 35_000
    assert aggregates["tier:flagship:requests"] == 1
    assert aggregates.get("unsettled", 0) == 0


async def test_aggregates_are_kept_for_the_configured_retention() -> None:
    require_redis()
    import redis.asyncio as aioredis

    prefix = "tgret-" + uuid.uuid4().hex[:8]
    store = open_store(REDIS_URL, key_prefix=prefix)
    try:
        admission = Admission(POLICY, store, retention_seconds=3 * 86_400)
        principal = KeyRing(POLICY).authenticate(f"Bearer {TEAM_KEYS['alpha']}")
        ticket = await admission.reserve(principal, "r2", 10_000, 1.0, NOW, {})
        await admission.settle(ticket, 9_000, NOW, usage={"requests": 1, "cost_micros": 9_000})
        client = aioredis.Redis.from_url(REDIS_URL)
        ttl = await client.ttl(f"{prefix}:{{alpha}}:agg:{day_bucket(NOW)}")
        await client.aclose()
        assert 3 * 86_400 - 60 <= ttl <= 3 * 86_400
    finally:
        await store.close()
        await delete_prefix(prefix)


class LosesOneAggregatesWrite:
    """The real store, except that its first `add_aggregates` fails (a blip mid-batch)."""

    def __init__(self, store: BudgetStore) -> None:
        self._store, self.failures = store, 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def add_aggregates(self, team: str, aggregates: Aggregates) -> None:
        if self.failures:
            self.failures -= 1
            raise StoreUnavailable("blip")
        await self._store.add_aggregates(team, aggregates)


async def test_one_lost_counter_write_does_not_drop_the_rest_of_a_reap(
    store: BudgetStore,
) -> None:
    admission = Admission(POLICY, store, grace_seconds=0)
    principal = KeyRing(POLICY).authenticate(f"Bearer {TEAM_KEYS['alpha']}")
    for i in range(3):
        await admission.reserve(principal, f"r{i}", 1_000, 1.0, NOW, {"tier": "flagship"})
    later = NOW + timedelta(seconds=5)

    reaped = await reap_once(POLICY, LosesOneAggregatesWrite(store), lambda: later)  # type: ignore[arg-type]

    assert reaped == 3
    snapshot = await admission.snapshot(principal, later)
    day = next(w for w in snapshot.window_states if w.period == "day")
    assert day.spent_micros == 3_000  # all three charged, atomically, by the store
    counters = (await store.aggregates("alpha", [day_bucket(later)]))[day_bucket(later)]
    assert counters["unsettled"] == 2  # only the one failed write is missing


async def test_release_after_reap_refunds_in_spend_ledger_and_counters(
    store: BudgetStore,
) -> None:
    admission = Admission(POLICY, store, grace_seconds=0)
    principal = KeyRing(POLICY).authenticate(f"Bearer {TEAM_KEYS['alpha']}")
    meta = {"tier": "flagship", "n": "1", "baseline_estimate_micros": "40000"}
    ticket = await admission.reserve(principal, "r1", 40_000, 1.0, NOW, meta)
    later = NOW + timedelta(seconds=5)
    assert await reap_once(POLICY, store, lambda: later) == 1  # the replica looked dead
    reaped = unsettled_increments(
        tier="flagship", images=1, estimate_micros=40_000, baseline_micros=40_000, categories=[]
    )

    # ... but it was alive, and every tier failed: nothing was produced.
    assert await admission.release(
        ticket, later, ledger={"status": "released", "cost_micros": "0"}, if_reaped=reaped
    )

    snapshot = await admission.snapshot(principal, later)
    day = next(w for w in snapshot.window_states if w.period == "day")
    assert (day.spent_micros, day.reserved_micros) == (0, 0)
    events = [fields for _, fields in await store.ledger_events("alpha")]
    # Summed as docs/reports.md says (corrections add actual - estimate), the ledger is 0.
    assert [e["outcome"] for e in events] == ["reaped", "corrected_after_reap"]
    assert (
        int(events[0]["cost_micros"])
        + (int(events[1]["actual_micros"]) - int(events[1]["estimate_micros"]))
        == 0
    )
    counters = (await store.aggregates("alpha", [day_bucket(later)]))[day_bucket(later)]
    assert (counters["requests"], counters["cost_micros"], counters["unsettled"]) == (0, 0, 0)
    # A second release changes nothing.
    assert not await admission.release(ticket, later, if_reaped=reaped)
    assert len(await store.ledger_events("alpha")) == 2


async def test_a_request_across_midnight_is_counted_on_its_reservation_day(
    store: BudgetStore,
) -> None:
    admission = Admission(POLICY, store, grace_seconds=0)
    principal = KeyRing(POLICY).authenticate(f"Bearer {TEAM_KEYS['alpha']}")
    reserved_at = datetime(2026, 3, 14, 23, 59, 50, tzinfo=UTC)
    meta = {
        "tier": "flagship",
        "n": "1",
        "baseline_estimate_micros": "40000",
        "ts_ms": str(int(reserved_at.timestamp() * 1000)),
    }
    ticket = await admission.reserve(principal, "r1", 40_000, 1.0, reserved_at, meta)
    after_midnight = reserved_at + timedelta(seconds=20)
    assert await reap_once(POLICY, store, lambda: after_midnight) == 1
    reaped = unsettled_increments(
        tier="flagship", images=1, estimate_micros=40_000, baseline_micros=40_000, categories=[]
    )
    usage = success_increments(
        tier="flagship",
        images=1,
        cost_micros=35_000,
        baseline_micros=35_000,
        text_tokens=10,
        image_tokens=1056,
        latency_ms=25_000,
        categories=[],
        reasons=[],
        downgraded=False,
        fallback=False,
    )

    await admission.settle(
        ticket, 35_000, after_midnight + timedelta(seconds=5), usage=usage, if_reaped=reaped
    )

    days = await store.aggregates("alpha", ["2026-03-14", "2026-03-15"])
    first = days["2026-03-14"]
    assert (first["requests"], first["cost_micros"], first["unsettled"]) == (1, 35_000, 0)
    # Nothing lands on the next day: no request, and no negative correction either.
    assert not any(days.get("2026-03-15", {}).values())


class LosesReserveReplies:
    """The real store, except that every reserve's reply is lost after it was applied."""

    def __init__(self, store: BudgetStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def reserve(self, request: Any) -> Any:
        await self._store.reserve(request)
        raise StoreUnavailable("reply lost")


async def test_a_reserve_whose_reply_was_lost_is_released_not_charged(
    store: BudgetStore,
) -> None:
    admission = Admission(POLICY, LosesReserveReplies(store), grace_seconds=0)  # type: ignore[arg-type]
    principal = KeyRing(POLICY).authenticate(f"Bearer {TEAM_KEYS['alpha']}")
    with pytest.raises(GatewayStoreUnavailable):  # the client is answered 503 ...
        await admission.reserve(principal, "r1", 40_000, 1.0, NOW, {"tier": "flagship"})
    day = next(w for w in (await admission.snapshot(principal, NOW)).window_states)
    assert day.reserved_micros == 40_000  # ... yet the store holds its reservation

    assert await admission.unconfirmed.release(store, int(NOW.timestamp() * 1000)) == 1

    later = NOW + timedelta(seconds=5)
    assert await reap_once(POLICY, store, lambda: later) == 0  # nothing left to charge
    day = next(w for w in (await admission.snapshot(principal, later)).window_states)
    assert (day.spent_micros, day.reserved_micros) == (0, 0)
    assert len(admission.unconfirmed) == 0
