"""kill -9 of a replica mid-request: another replica's reaper charges the estimate, marked unsettled."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml

from gateway.budget import open_store
from tests.conftest import TEAM_KEYS, policy_dict, write_policy
from tests.support import REDIS_URL, gateway, require_redis, simulator

pytestmark = [pytest.mark.redis, pytest.mark.slow]
AUTH = {"Authorization": f"Bearer {TEAM_KEYS['alpha']}"}


def short_deadlines(raw: dict[str, Any]) -> None:
    for tier in raw["tiers"].values():
        tier.update(timeout_seconds=4, max_retries=0, max_retry_after_seconds=0)
    raw["routing"]["fallbacks"] = {}


async def test_killed_replica_leaves_no_reservation_behind(tmp_path: Path) -> None:
    require_redis()
    sims = {p: simulator(p) for p in ("efficient", "flagship")}
    for server in sims.values():
        server.args[server.args.index("--latency-scale") + 1] = "0.35"  # ~2.5 s a call
        server.start()
    raw = policy_dict(alpha={"budgets": [{"period": "day", "limit_usd": 10}]})
    short_deadlines(raw)
    policy = write_policy(tmp_path, yaml.safe_dump(raw))
    prefix = "tgcrash-" + uuid.uuid4().hex[:8]
    env = {
        "TIERGATE_STORE": REDIS_URL,
        "TIERGATE_STORE_KEY_PREFIX": prefix,
        "TIERGATE_SIM_EFFICIENT_PORT": str(sims["efficient"].port),
        "TIERGATE_SIM_FLAGSHIP_PORT": str(sims["flagship"].port),
        "TIERGATE_RESERVATION_GRACE_SECONDS": "0.5",
        "TIERGATE_REAPER_INTERVAL_SECONDS": "0.2",
    }
    victim, survivor = gateway(policy, env=env).spawn(), gateway(policy, env=env).spawn()
    store = open_store(REDIS_URL, key_prefix=prefix)
    try:
        victim.wait_healthy()
        survivor.wait_healthy()
        async with httpx.AsyncClient(timeout=30) as client:
            pending = [
                asyncio.create_task(
                    client.post(
                        victim.url + "/v1/images/generations",
                        json={"prompt": f"a red bicycle {i}"},
                        headers=AUTH,
                    )
                )
                for i in range(3)
            ]
            await asyncio.sleep(0.8)
            window = await day_window(client, survivor.url)
            assert window["reserved_micros"] > 0  # three reservations in flight
            reserved = window["reserved_micros"]
            assert victim.proc is not None
            victim.proc.send_signal(signal.SIGKILL)
            results = await asyncio.gather(*pending, return_exceptions=True)
            assert all(isinstance(r, httpx.HTTPError) for r in results)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                window = await day_window(client, survivor.url)
                if window["reserved_micros"] == 0:
                    break
                await asyncio.sleep(0.2)
        assert window["reserved_micros"] == 0
        assert window["spent_micros"] == reserved  # each estimate charged exactly once
        events = [fields for _, fields in await store.ledger_events("alpha", 100)]
        assert sorted(e["status"] for e in events) == ["unsettled"] * 3
        assert sum(int(e["cost_micros"]) for e in events) == reserved
        aggregates = await store.aggregates("alpha", [time.strftime("%Y-%m-%d", time.gmtime())])
        day = next(iter(aggregates.values()))
        assert day["unsettled"] == 3 and day["unsettled_micros"] == reserved
    finally:
        victim.kill()
        survivor.stop()
        await store.close()
        for server in sims.values():
            server.stop()
        client_ = redis.Redis.from_url(REDIS_URL)
        for key in client_.scan_iter(match=f"{prefix}:*"):
            client_.delete(key)


async def day_window(client: httpx.AsyncClient, base: str) -> dict[str, Any]:
    body = (await client.get(base + "/v1/budget", headers=AUTH)).json()
    return next(w for w in body["windows"] if w["period"] == "day")  # type: ignore[no-any-return]
