"""Several real `tiergate serve` replicas sharing one Redis: budgets, rates and concurrency are exact."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml

from gateway.tokens import count_text_tokens
from tests.conftest import TEAM_KEYS, policy_dict, write_policy
from tests.support import REDIS_URL, Server, gateway, require_redis, simulator

pytestmark = [pytest.mark.redis, pytest.mark.slow]

PROMPT = "a bowl of fruit on a wooden table"
AUTH = {"Authorization": f"Bearer {TEAM_KEYS['alpha']}"}
URL = "/v1/images/generations"


def unit_cost_micros() -> int:
    """Efficient tier, 1024x1024 medium: the simulator's usage is deterministic."""
    return count_text_tokens(PROMPT) * 5 + 1056 * 39 // 2


class Replicas:
    def __init__(self, servers: list[Server], prefix: str) -> None:
        self.servers = servers
        self.prefix = prefix

    def __enter__(self) -> Replicas:
        for server in self.servers:
            server.spawn()
        for server in self.servers:
            server.wait_healthy()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self.servers:
            server.stop()
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"{self.prefix}:*", count=1000):
            client.delete(key)


def start_replicas(
    tmp: Path, sims: dict[str, Server], count: int, alpha: dict[str, Any], **env: str
) -> Replicas:
    raw = policy_dict(alpha=alpha)
    policy = write_policy(tmp, yaml.safe_dump(raw))
    prefix = "tgrep-" + uuid.uuid4().hex[:8]
    environment = {
        "TIERGATE_STORE": REDIS_URL,
        "TIERGATE_STORE_KEY_PREFIX": prefix,
        "TIERGATE_SIM_EFFICIENT_PORT": str(sims["efficient"].port),
        "TIERGATE_SIM_FLAGSHIP_PORT": str(sims["flagship"].port),
        "TIERGATE_REAPER_INTERVAL_SECONDS": "0.2",
        **env,
    }
    return Replicas([gateway(policy, env=environment) for _ in range(count)], prefix)


async def fire(
    replicas: Replicas, total: int, body: dict[str, Any] | None = None
) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        return await asyncio.gather(
            *(
                client.post(
                    replicas.servers[i % len(replicas.servers)].url + URL,
                    json=body or {"prompt": PROMPT},
                    headers=AUTH,
                )
                for i in range(total)
            )
        )


def team_budget(replica: Server) -> dict[str, Any]:
    resp = httpx.get(replica.url + "/v1/budget", headers=AUTH)
    assert resp.status_code == 200, resp.text
    return next(w for w in resp.json()["windows"] if w["period"] == "day" and w["scope"] == "team")


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, Server]]:
    require_redis()
    servers = {p: simulator(p) for p in ("efficient", "flagship")}
    for server in servers.values():
        server.start()
    yield servers
    for server in servers.values():
        server.stop()


async def test_budget_admits_exactly_k_across_three_replicas(
    tmp_path: Path, sims: dict[str, Server]
) -> None:
    k, unit = 37, unit_cost_micros()
    limit_usd = str(Decimal(k * unit) / 1_000_000)
    alpha = {"budgets": [{"period": "day", "limit_usd": limit_usd}]}
    with start_replicas(tmp_path, sims, 3, alpha) as replicas:
        responses = await fire(replicas, 300)
        ok = [r for r in responses if r.status_code == 200]
        refused = [r for r in responses if r.status_code != 200]
        assert len(ok) == k
        assert all(r.status_code == 429 for r in refused)
        assert {r.json()["error"]["type"] for r in refused} == {"insufficient_quota"}
        assert {r.json()["error"]["code"] for r in refused} == {"budget_exceeded"}
        window = team_budget(replicas.servers[0])
        charged = sum(round(Decimal(r.headers["x-tiergate-cost-usd"]) * 1_000_000) for r in ok)
        assert window["reserved_micros"] == 0
        assert window["spent_micros"] == charged
        assert window["spent_micros"] <= window["limit_micros"]
        assert window["state"] == "hard"


async def test_requests_per_minute_is_shared_by_replicas(
    tmp_path: Path, sims: dict[str, Server]
) -> None:
    if 60 - time.time() % 60 < 8:  # keep the burst inside one fixed minute window
        await asyncio.sleep(60 - time.time() % 60 + 0.1)
    alpha = {"rate_limits": {"requests_per_minute": 25}}
    with start_replicas(tmp_path, sims, 3, alpha) as replicas:
        responses = await fire(replicas, 90)
        ok = [r for r in responses if r.status_code == 200]
        limited = [r for r in responses if r.status_code == 429]
        assert len(ok) == 25 and len(limited) == 65
        assert {r.json()["error"]["code"] for r in limited} == {"rate_limit_exceeded"}
        assert all(int(r.headers["retry-after"]) >= 1 for r in limited)
        assert ok[0].headers["x-ratelimit-limit-requests"] == "25"
        assert {r.headers["x-ratelimit-limit-requests"] for r in limited} == {"25"}


async def test_concurrency_limit_is_shared_by_replicas(tmp_path: Path) -> None:
    # A slow simulator (about 3 s a call) so every admitted request is still in flight.
    slow = {p: simulator(p) for p in ("efficient", "flagship")}
    for server in slow.values():
        server.args[server.args.index("--latency-scale") + 1] = "0.4"
        server.start()
    try:
        alpha = {"rate_limits": {"max_concurrent": 4}}
        with start_replicas(tmp_path, slow, 3, alpha) as replicas:
            responses = await fire(replicas, 30)
            ok = [r for r in responses if r.status_code == 200]
            limited = [r for r in responses if r.status_code == 429]
            assert len(ok) == 4 and len(limited) == 26
            assert {r.json()["error"]["code"] for r in limited} == {"rate_limit_exceeded"}
            in_flight = httpx.get(replicas.servers[0].url + "/v1/budget", headers=AUTH).json()
            assert in_flight["rate_limits"][0]["in_flight"] == 0
    finally:
        for server in slow.values():
            server.stop()
