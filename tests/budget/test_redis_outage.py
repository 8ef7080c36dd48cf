"""Outages of a private redis-server: fast StoreUnavailable errors, automatic recovery."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from gateway.budget import (
    BudgetStore,
    RateLimit,
    ReserveRequest,
    StoreUnavailable,
    Window,
    open_store,
)

from .conftest import skip_or_fail

pytestmark = pytest.mark.redis

TEAM = "outage"
NOW = 1_795_780_800_000
DAY = Window("team", "day", "2026-11-27", 1_000_000, 172_800)
RATE = RateLimit("team", requests_per_minute=1_000, max_concurrent=100)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RedisServer:
    """A throwaway redis-server on a loopback port, started and killed by the test."""

    def __init__(self, binary: str, port: int) -> None:
        self.binary = binary
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2, socket_timeout=0.2)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.TimeoutError):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
        finally:
            client.close()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def pause(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)


@pytest.fixture
def server() -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        skip_or_fail("redis-server is not installed")
        raise AssertionError("unreachable")
    srv = RedisServer(binary, free_port())
    srv.start()
    try:
        yield srv
    finally:
        if srv.process is not None:
            srv.resume()
        srv.kill()


@pytest.fixture
async def store(server: RedisServer) -> AsyncIterator[BudgetStore]:
    s = open_store(f"redis://127.0.0.1:{server.port}/0", key_prefix="tg")
    yield s
    await s.close()


def request(reservation_id: str) -> ReserveRequest:
    return ReserveRequest(TEAM, reservation_id, 1_000, (DAY,), (RATE,), NOW, NOW + 30_000)


async def reserved(store: BudgetStore) -> int:
    return (await store.snapshot(TEAM, [DAY], [], NOW)).window_states[0].reserved_micros


async def test_down_then_back_on_the_same_port(server: RedisServer, store: BudgetStore) -> None:
    assert (await store.reserve(request("before"))).admitted
    await store.settle(TEAM, "before", 900, NOW, latency=("fast", 10.0))

    server.kill()
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await store.reserve(request("during"))
    with pytest.raises(StoreUnavailable):
        await store.settle(TEAM, "during", 1, NOW, latency=("fast", 10.0))
    with pytest.raises(StoreUnavailable):
        await store.snapshot(TEAM, [DAY], [RATE], NOW)
    with pytest.raises(StoreUnavailable):
        await store.reap(TEAM, NOW)
    with pytest.raises(StoreUnavailable):
        await store.latency_stats(["fast"], 60, NOW)
    assert await store.ping() is False
    assert time.monotonic() - started < 2.0  # refused connections fail fast, no hanging

    # A fresh server knows no scripts: EVALSHA gets NOSCRIPT and the script is reloaded.
    server.start()
    assert await store.ping() is True
    assert (await store.reserve(request("after"))).admitted
    result = await store.settle(TEAM, "after", 700, NOW, ledger={"tier": "fast"})
    assert result.outcome == "settled" and result.ledger_id is not None
    assert await store.release(TEAM, "after", NOW) is False
    assert await store.reap(TEAM, NOW + 60_000) == []
    snap = await store.snapshot(TEAM, [DAY], [RATE], NOW)
    assert snap.window_states[0].spent_micros == 700  # data before the restart is gone
    assert snap.rate_states[0].in_flight == 0


async def test_pipelined_settle_reloads_lost_scripts(
    server: RedisServer, store: BudgetStore
) -> None:
    assert (await store.reserve(request("r1"))).admitted
    client = redis.Redis(port=server.port)
    client.script_flush()
    client.close()
    result = await store.settle(TEAM, "r1", 400, NOW, latency=("fast", 25.0))
    assert result.outcome == "settled"
    stats = (await store.latency_stats(["fast"], 60, NOW))["fast"]
    assert (stats.count, stats.p50_ms) == (1, 25.0)


async def test_a_hung_server_times_out(server: RedisServer, store: BudgetStore) -> None:
    assert (await store.reserve(request("warm-up"))).admitted
    server.pause()  # accepts connections, answers nothing
    started = time.monotonic()
    try:
        with pytest.raises(StoreUnavailable):
            await store.reserve(request("stuck"))
        elapsed = time.monotonic() - started
    finally:
        server.resume()
    assert elapsed < 6.0  # 2 s operation timeout, one retry
    # The timed-out reserve was queued in the server and ran after all, twice (the retry):
    # the second run replayed, so the estimate is held once. Releasing it undoes it.
    await asyncio.sleep(0.05)
    assert await reserved(store) == 2_000
    assert await store.release(TEAM, "stuck", NOW) is True
    assert await reserved(store) == 1_000
