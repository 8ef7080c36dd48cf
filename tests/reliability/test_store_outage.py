"""Redis stopped and restarted under the gateway: fail closed (503) or fail open (journal), no spend lost.

Uses its own redis-server on a free loopback port; the shared one is never touched.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.conftest import TEAM_KEYS
from tests.gateway_harness import gateway_client
from tests.support import free_port

pytestmark = pytest.mark.redis
AUTH = {"Authorization": f"Bearer {TEAM_KEYS['alpha']}"}
URL = "/v1/images/generations"
BODY = {"prompt": "a bowl of fruit on a wooden table"}


class OwnRedis:
    """A redis-server of this test's own, with AOF on so a restart keeps earlier spend."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is needed for the outage tests")
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("own redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


async def spent(client: httpx.AsyncClient) -> int:
    body = (await client.get("/v1/budget", headers=AUTH)).json()
    return int(next(w["spent_micros"] for w in body["windows"] if w["period"] == "day"))


def micros(resp: httpx.Response) -> int:
    return round(float(resp.headers["x-tiergate-cost-usd"]) * 1_000_000)


async def wait_for(condition: Any, timeout_s: float = 10) -> None:
    import asyncio

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def test_fail_closed_refuses_then_recovers_without_restart(
    own_redis: OwnRedis, sim_env: dict[str, str]
) -> None:
    alpha = {"budgets": [{"period": "day", "limit_usd": 5}]}
    async with gateway_client(sim_env, store=own_redis.url, alpha=alpha) as (client, _):
        before = await client.post(URL, json=BODY, headers=AUTH)
        assert before.status_code == 200
        own_redis.stop()
        down = await client.post(URL, json=BODY, headers=AUTH)
        assert down.status_code == 503
        assert down.json()["error"]["code"] == "store_unavailable"
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["store"] == "down"
        own_redis.start()
        after = await client.post(URL, json=BODY, headers=AUTH)
        assert after.status_code == 200
        assert (await client.get("/readyz")).status_code == 200
        assert await spent(client) == micros(before) + micros(after)


async def test_fail_open_journals_and_replays_when_redis_returns(
    own_redis: OwnRedis, sim_env: dict[str, str], tmp_path: Path
) -> None:
    def fail_open(raw: dict[str, Any]) -> None:
        raw.update(store_failure_mode="fail_open", fail_open_requests_per_minute=3)

    alpha = {"budgets": [{"period": "day", "limit_usd": 5}]}
    async with gateway_client(
        sim_env,
        store=own_redis.url,
        alpha=alpha,
        mutate=fail_open,
        journal_dir=tmp_path / "journal",
    ) as (client, app):
        before = await client.post(URL, json=BODY, headers=AUTH)
        assert before.status_code == 200
        own_redis.stop()
        during = [await client.post(URL, json=BODY, headers=AUTH) for _ in range(4)]
        assert [r.status_code for r in during] == [200, 200, 200, 503]  # local cap: 3 a minute
        assert (await client.get("/readyz")).json()["journal_pending"] == 3
        own_redis.start()

        async def replayed() -> bool:
            return bool((await client.get("/readyz")).json()["journal_pending"] == 0)

        await wait_for(replayed)
        expected = micros(before) + sum(micros(r) for r in during[:3])
        assert await spent(client) == expected
        events = await app.state.tiergate.store.ledger_events("alpha", 100)
        assert len(events) == 4
        assert sum(f.get("journaled") == "1" for _, f in events) == 3
