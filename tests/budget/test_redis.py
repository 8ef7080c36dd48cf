"""Redis-only details of the accounting keys: layout under the team's hash tag, and TTLs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from gateway.budget import Aggregates, BudgetStore, ReserveRequest, StoreOptions, Window, open_store

from .conftest import CLUSTER_URL, REDIS_URL, REDIS_URLS, delete_prefix, require_redis

pytestmark = pytest.mark.redis

NOW = 1_795_780_800_000
DAY = Window("team", "day", "2026-11-27", 1_000_000, 172_800)
TTL_SECONDS = 3_600
OPTIONS = StoreOptions(reap_tombstone_ttl_seconds=7_200)


@pytest.fixture(params=REDIS_URLS)
def url(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    if value == REDIS_URL:
        require_redis()
    return value


@pytest.fixture
def prefix(url: str) -> Iterator[str]:
    value = f"tgtest-{uuid.uuid4().hex[:12]}"
    yield value
    delete_prefix(value, url)


@pytest.fixture
async def store(url: str, prefix: str) -> AsyncIterator[BudgetStore]:
    budget_store = open_store(url, key_prefix=prefix, options=OPTIONS)
    yield budget_store
    await budget_store.close()


@pytest.fixture
def raw(url: str) -> Iterator[redis.Redis | redis.RedisCluster]:
    client: redis.Redis | redis.RedisCluster
    if url == CLUSTER_URL:
        client = redis.RedisCluster.from_url(url.replace("redis+cluster://", "redis://", 1))
    else:
        client = redis.Redis.from_url(url)
    yield client
    client.close()


async def test_aggregate_hashes_live_under_the_team_tag_with_their_ttl(
    store: BudgetStore, prefix: str, raw: redis.Redis | redis.RedisCluster
) -> None:
    key = f"{prefix}:{{acme}}:agg:2026-11-27"
    await store.add_aggregates("acme", Aggregates("2026-11-27", {"rejected:rpm": 1}, TTL_SECONDS))
    assert raw.hgetall(key) == {b"rejected:rpm": b"1"}
    assert 0 < raw.pttl(key) <= TTL_SECONDS * 1000

    await store.reserve(
        ReserveRequest("acme", "r1", 10, (DAY,), (), NOW, NOW + 1_000, {"tier": "fast"})
    )
    result = await store.settle(
        "acme", "r1", 7, NOW, aggregates=Aggregates("2026-11-27", {"cost_micros": 7}, 10 * 60)
    )
    assert result.outcome == "settled"
    assert raw.hgetall(key) == {b"rejected:rpm": b"1", b"cost_micros": b"7"}
    assert 0 < raw.pttl(key) <= 10 * 60 * 1000  # every write sets the TTL afresh


async def test_charge_tombstone_keeps_the_long_ttl(
    store: BudgetStore, prefix: str, raw: redis.Redis | redis.RedisCluster
) -> None:
    assert await store.charge("acme", "j1", [DAY], 5, NOW, ledger={"tier": "fast"})
    done = f"{prefix}:{{acme}}:done:j1"
    assert raw.hget(done, "state") == b"charged"
    assert 3_600_000 < raw.pttl(done) <= OPTIONS.reap_tombstone_ttl_seconds * 1000
    assert raw.xlen(f"{prefix}:{{acme}}:events") == 1
