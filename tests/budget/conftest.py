"""Fixtures: the `store` fixture runs each contract test against memory:// and redis://.

The Redis case is marked `redis`; it is skipped when Redis does not answer, unless
TIERGATE_REQUIRE_REDIS=1 (CI), which turns the skip into a failure. Setting
TIERGATE_TEST_REDIS_CLUSTER (e.g. redis+cluster://127.0.0.1:7000) adds a third case
that runs the whole contract against a Redis Cluster.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
import redis

from gateway.budget import BudgetStore, StoreOptions, open_store

REDIS_URL = os.environ.get("TIERGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")
CLUSTER_URL = os.environ.get("TIERGATE_TEST_REDIS_CLUSTER", "")
MEMORY_URL = "memory://"

StoreFactory = Callable[[], Awaitable[BudgetStore]]


def redis_required() -> bool:
    return os.environ.get("TIERGATE_REQUIRE_REDIS") == "1"


def skip_or_fail(reason: str) -> None:
    if redis_required():
        pytest.fail(f"{reason} (TIERGATE_REQUIRE_REDIS=1)")
    pytest.skip(reason)


_redis_answers: bool | None = None


def require_redis() -> None:
    global _redis_answers
    if _redis_answers is None:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            _redis_answers = bool(client.ping())
        except (redis.RedisError, OSError):
            _redis_answers = False
        finally:
            client.close()
    if not _redis_answers:
        skip_or_fail(f"Redis does not answer at {REDIS_URL}")


def delete_prefix(prefix: str, url: str = REDIS_URL) -> None:
    """SCAN+DEL of this test's keys only."""
    if url.startswith("redis+cluster://"):
        cluster = redis.RedisCluster.from_url(url.replace("redis+cluster://", "redis://", 1))
        try:
            for key in cluster.scan_iter(match=f"{prefix}:*", count=1000):
                cluster.delete(key)
        finally:
            cluster.close()
        return
    client = redis.Redis.from_url(url)
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                client.delete(*batch)
                batch.clear()
        if batch:
            client.delete(*batch)
    finally:
        client.close()


@pytest.fixture
def key_prefix() -> str:
    return f"tgtest-{uuid.uuid4().hex[:12]}"


STORE_URLS = [
    pytest.param(MEMORY_URL, id="memory"),
    pytest.param(REDIS_URL, id="redis", marks=pytest.mark.redis),
]
if CLUSTER_URL:
    STORE_URLS.append(pytest.param(CLUSTER_URL, id="redis-cluster", marks=pytest.mark.redis))


@pytest.fixture(params=STORE_URLS)
def store_url(request: pytest.FixtureRequest, key_prefix: str) -> Iterator[str]:
    url: str = request.param
    if url == MEMORY_URL:
        yield url
        return
    if url == REDIS_URL:
        require_redis()
    yield url
    delete_prefix(key_prefix, url)


@pytest.fixture
def store_options() -> StoreOptions:
    return StoreOptions()


@pytest.fixture
async def store(
    store_url: str, key_prefix: str, store_options: StoreOptions
) -> AsyncIterator[BudgetStore]:
    budget_store = open_store(store_url, key_prefix=key_prefix, options=store_options)
    yield budget_store
    await budget_store.close()


@pytest.fixture
async def peer_store(
    store: BudgetStore, store_url: str, key_prefix: str, store_options: StoreOptions
) -> AsyncIterator[BudgetStore]:
    """Another replica's view of `store`: a second client for Redis, the same object in memory."""
    if store_url == MEMORY_URL:
        yield store
        return
    other = open_store(store_url, key_prefix=key_prefix, options=store_options)
    yield other
    await other.close()


REDIS_URLS = [pytest.param(REDIS_URL, id="redis")]
if CLUSTER_URL:
    REDIS_URLS.append(pytest.param(CLUSTER_URL, id="redis-cluster"))


@pytest.fixture(params=REDIS_URLS)
async def redis_stores(
    request: pytest.FixtureRequest, key_prefix: str
) -> AsyncIterator[list[BudgetStore]]:
    """Three Redis clients (three replicas) on one key prefix."""
    url: str = request.param
    if url == REDIS_URL:
        require_redis()
    stores = [open_store(url, key_prefix=key_prefix) for _ in range(3)]
    yield stores
    for s in stores:
        await s.close()
    delete_prefix(key_prefix, url)
