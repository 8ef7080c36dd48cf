"""Real faults from the simulator over HTTP: retries, fallback, circuit breaking, and exactly-once budget."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from tests.conftest import TEAM_KEYS
from tests.gateway_harness import gateway_client, sim_env_for
from tests.support import Server, require_redis, simulator

AUTH = {"Authorization": f"Bearer {TEAM_KEYS['demo']}"}
GENERAL = {"prompt": "a bowl of fruit on a wooden table", "model": "auto"}
PHOTO = {"prompt": "a DSLR photograph of a lighthouse at dawn, 50mm lens", "model": "auto"}
URL = "/v1/images/generations"


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, Server]]:
    servers = {p: simulator(p) for p in ("efficient", "flagship")}
    for server in servers.values():
        server.start()
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture(params=["auto", "litellm"])
def upstream(request: pytest.FixtureRequest) -> str:
    """Every fault is driven through both upstream paths: direct httpx and litellm."""
    return str(request.param)


@pytest.fixture(autouse=True)
def reset_faults(sims: dict[str, Server]) -> None:
    require_redis()
    for server in sims.values():
        httpx.post(server.url + "/admin/reset").raise_for_status()


def faults(server: Server, **settings: Any) -> None:
    httpx.put(server.url + "/admin/faults", json=settings).raise_for_status()


def backend_requests(server: Server) -> int:
    return int(httpx.get(server.url + "/admin/stats").json()["requests_total"])


def fast_retries(raw: dict[str, Any]) -> None:
    for tier in raw["tiers"].values():
        tier.update(
            max_retries=1,
            retry_backoff_ms=10,
            timeout_seconds=2,
            circuit_breaker={"failure_threshold": 3, "window_seconds": 30, "open_seconds": 1},
        )


async def budget(client: httpx.AsyncClient) -> dict[str, Any]:
    resp = await client.get("/v1/budget", headers=AUTH)
    assert resp.status_code == 200
    day = next(w for w in resp.json()["windows"] if w["period"] == "day")
    return day  # type: ignore[no-any-return]


async def ledger(app: Any) -> list[dict[str, str]]:
    events = await app.state.tiergate.store.ledger_events("demo", 100)
    return [fields for _, fields in events]


def env(sims: dict[str, Server]) -> dict[str, str]:
    return sim_env_for(sims["efficient"].port, sims["flagship"].port)


async def test_one_500_is_retried_and_charged_once(upstream: str, sims: dict[str, Server]) -> None:
    faults(sims["efficient"], fail_next=1)
    async with gateway_client(
        env(sims), store="redis://", mutate=fast_retries, upstream=upstream
    ) as (client, app):
        resp = await client.post(URL, json=GENERAL, headers=AUTH)
        assert resp.status_code == 200, resp.text
        assert backend_requests(sims["efficient"]) == 2
        day = await budget(client)
        cost = round(float(resp.headers["x-tiergate-cost-usd"]) * 1e6)
        assert (day["spent_micros"], day["reserved_micros"]) == (cost, 0)
        events = await ledger(app)
        assert len(events) == 1 and events[0]["status"] == "ok" and events[0]["attempts"] == "2"


async def test_failing_flagship_falls_back_to_efficient(
    upstream: str, sims: dict[str, Server]
) -> None:
    faults(sims["flagship"], error_rate=1.0)
    async with gateway_client(
        env(sims), store="redis://", mutate=fast_retries, upstream=upstream
    ) as (client, app):
        resp = await client.post(URL, json=PHOTO, headers=AUTH)
        assert resp.status_code == 200, resp.text
        assert resp.headers["x-tiergate-tier"] == "efficient"
        assert "fallback:flagship_to_efficient" in resp.headers["x-tiergate-route-reason"]
        assert backend_requests(sims["flagship"]) == 2  # first try + one retry
        day = await budget(client)
        assert day["spent_micros"] == round(float(resp.headers["x-tiergate-cost-usd"]) * 1e6)
        assert day["reserved_micros"] == 0
        assert [e["fallback"] for e in await ledger(app)] == ["1"]


async def test_team_that_forbids_downgrades_sees_the_failure(
    upstream: str, sims: dict[str, Server]
) -> None:
    faults(sims["flagship"], error_rate=1.0)
    async with gateway_client(
        env(sims),
        store="redis://",
        mutate=fast_retries,
        upstream=upstream,
        demo={"allow_downgrade_fallback": False},
    ) as (client, app):
        resp = await client.post(URL, json=PHOTO, headers=AUTH)
        assert resp.status_code == 502
        assert resp.json()["error"]["code"] == "upstream_error"
        assert backend_requests(sims["efficient"]) == 0
        day = await budget(client)
        assert (day["spent_micros"], day["reserved_micros"]) == (0, 0)
        assert await ledger(app) == []


async def test_429_retry_after_is_honoured(upstream: str, sims: dict[str, Server]) -> None:
    faults(sims["efficient"], fail_next=1, fail_next_status=429, retry_after_s=1)
    async with gateway_client(
        env(sims), store="redis://", mutate=fast_retries, upstream=upstream
    ) as (client, app):
        started = time.monotonic()
        resp = await client.post(URL, json=GENERAL, headers=AUTH)
        elapsed = time.monotonic() - started
        assert resp.status_code == 200, resp.text
        assert elapsed >= 1.0  # waited the upstream's Retry-After before retrying
        assert backend_requests(sims["efficient"]) == 2
        assert len(await ledger(app)) == 1


async def test_timeout_gives_504_and_releases_the_reservation(
    upstream: str, sims: dict[str, Server]
) -> None:
    faults(sims["efficient"], hang_rate=1.0, hang_s=30)
    async with gateway_client(
        env(sims), store="redis://", mutate=fast_retries, upstream=upstream
    ) as (client, app):
        resp = await client.post(URL, json=GENERAL, headers=AUTH)
        assert resp.status_code == 504
        assert resp.json()["error"] == {
            "message": resp.json()["error"]["message"],
            "type": "api_error",
            "param": None,
            "code": "upstream_timeout",
        }
        assert backend_requests(sims["efficient"]) == 1  # a hang is not retried
        day = await budget(client)
        assert (day["spent_micros"], day["reserved_micros"]) == (0, 0)
        assert await ledger(app) == []


DIRECT_FAILURES = {
    "reset_rate": "(ServerDisconnectedError)",
    "malformed_rate": "not JSON",
    "wrong_shape_rate": "'data' that is not a list",
    "error_rate": "(HTTP 500)",
}


@pytest.mark.parametrize("mode", ["reset_rate", "malformed_rate", "wrong_shape_rate", "error_rate"])
async def test_persistent_fault_is_a_502_with_nothing_charged(
    upstream: str, sims: dict[str, Server], mode: str
) -> None:
    faults(sims["efficient"], **{mode: 1.0})
    async with gateway_client(
        env(sims), store="redis://", mutate=fast_retries, upstream=upstream
    ) as (client, app):
        with capture_logs() as logs:
            resp = await client.post(URL, json=GENERAL, headers=AUTH)
        assert resp.status_code == 502, resp.text
        assert resp.json()["error"]["type"] == "api_error"
        assert backend_requests(sims["efficient"]) == 2  # one retry, then give up
        # The operator's log says why each attempt failed (a status or an exception class).
        failed = [entry for entry in logs if entry["event"] == "upstream_failed"]
        assert [entry["attempt"] for entry in failed] == [1, 2]
        assert all(entry["message"].startswith("The efficient tier") for entry in failed)
        if upstream == "auto":  # litellm wraps most of these as APIConnectionError
            why = DIRECT_FAILURES[mode]
            assert all(why in entry["message"] for entry in failed), failed
        day = await budget(client)
        assert (day["spent_micros"], day["reserved_micros"]) == (0, 0)
        assert await ledger(app) == []


async def test_circuit_opens_then_half_open_probe_closes_it(
    upstream: str, sims: dict[str, Server]
) -> None:
    import asyncio

    faults(sims["efficient"], error_rate=1.0)
    async with gateway_client(
        env(sims), store="redis://", mutate=fast_retries, upstream=upstream
    ) as (client, app):
        for _ in range(3):  # 3 failed requests (2 attempts each) = threshold 3
            assert (await client.post(URL, json=GENERAL, headers=AUTH)).status_code == 502
        seen = backend_requests(sims["efficient"])
        resp = await client.post(URL, json=GENERAL, headers=AUTH)
        assert resp.status_code == 502 and resp.json()["error"]["code"] == "circuit_open"
        assert backend_requests(sims["efficient"]) == seen  # not even tried
        ready = (await client.get("/readyz")).json()
        assert ready["circuits"]["efficient"] == "open"
        faults(sims["efficient"], error_rate=0.0)
        await asyncio.sleep(1.1)  # open_seconds
        assert (await client.get("/readyz")).json()["circuits"]["efficient"] == "half_open"
        assert (await client.post(URL, json=GENERAL, headers=AUTH)).status_code == 200
        assert (await client.get("/readyz")).json()["circuits"]["efficient"] == "closed"
        day = await budget(client)
        assert day["reserved_micros"] == 0
        assert len(await ledger(app)) == 1


async def test_a_burst_of_failures_that_retries_mend_leaves_the_circuit_closed(
    upstream: str, sims: dict[str, Server]
) -> None:
    """Pooled connections the tier closed fail together and succeed on retry: the breaker
    counts requests the tier failed, not attempts, so a healthy tier stays in use."""

    def slow_backoff(raw: dict[str, Any]) -> None:
        fast_retries(raw)
        for tier in raw["tiers"].values():
            tier["retry_backoff_ms"] = 300  # every first attempt fails before any retry

    faults(sims["efficient"], fail_next=3)
    async with gateway_client(
        env(sims), store="redis://", mutate=slow_backoff, upstream=upstream
    ) as (client, _):
        burst = await asyncio.gather(
            *(client.post(URL, json=GENERAL, headers=AUTH) for _ in range(3))
        )
        assert [resp.status_code for resp in burst] == [200, 200, 200]
        assert backend_requests(sims["efficient"]) == 6  # three failed, three retried
        assert (await client.get("/readyz")).json()["circuits"]["efficient"] == "closed"


async def test_a_cancelled_half_open_probe_does_not_keep_the_circuit_shut(
    upstream: str, sims: dict[str, Server]
) -> None:
    faults(sims["efficient"], error_rate=1.0)
    async with gateway_client(
        env(sims), store="redis://", mutate=fast_retries, upstream=upstream
    ) as (client, _):
        for _ in range(3):  # 3 failed requests = threshold 3: open
            assert (await client.post(URL, json=GENERAL, headers=AUTH)).status_code == 502
        faults(sims["efficient"], error_rate=0.0, hang_rate=1.0, hang_s=30)
        await asyncio.sleep(1.1)  # open_seconds: the next call is the half-open probe
        seen = backend_requests(sims["efficient"])
        probe = asyncio.create_task(client.post(URL, json=GENERAL, headers=AUTH))
        for _ in range(500):
            if backend_requests(sims["efficient"]) > seen:
                break
            await asyncio.sleep(0.02)
        probe.cancel()  # the probe's client goes away before the tier answers
        with contextlib.suppress(asyncio.CancelledError):
            await probe
        faults(sims["efficient"], hang_rate=0.0)
        # The tier is healthy; the breaker must let the next call probe it.
        assert (await client.post(URL, json=GENERAL, headers=AUTH)).status_code == 200
        assert (await client.get("/readyz")).json()["circuits"]["efficient"] == "closed"


async def test_client_gone_mid_call_is_charged_the_estimate_and_reported(
    upstream: str, sims: dict[str, Server]
) -> None:
    faults(sims["efficient"], hang_rate=1.0, hang_s=30)
    async with gateway_client(
        env(sims), store="redis://", mutate=fast_retries, upstream=upstream
    ) as (client, app):
        call = asyncio.create_task(client.post(URL, json=GENERAL, headers=AUTH))
        for _ in range(500):  # until the tier has the request (10 s at most)
            if backend_requests(sims["efficient"]) == 1:
                break
            await asyncio.sleep(0.02)
        call.cancel()  # the client goes away while the tier is working
        with contextlib.suppress(asyncio.CancelledError):
            await call
        day = await budget(client)
        # The vendor may bill a call we abandoned: the estimate is charged, not released.
        assert day["reserved_micros"] == 0 and day["spent_micros"] > 0
        (entry,) = await ledger(app)
        assert (entry["status"], entry["cost_micros"]) == ("cancelled", str(day["spent_micros"]))
        # ... and the team's report counts it, so report and ledger agree.
        today = time.strftime("%Y-%m-%d", time.gmtime())
        report = await client.get(
            "/v1/reports/teams/demo", params={"from": today, "to": today}, headers=AUTH
        )
        assert report.status_code == 200, report.text
        totals = report.json()["totals"]
        assert totals["requests"] == 1
        assert totals["cost"]["micros"] == day["spent_micros"]


async def test_a_fallback_that_cannot_take_n_is_skipped_not_blamed_on_the_client(
    upstream: str, sims: dict[str, Server]
) -> None:
    def efficient_takes_one_image(raw: dict[str, Any]) -> None:
        fast_retries(raw)
        raw["tiers"]["efficient"]["max_images"] = 1

    faults(sims["flagship"], error_rate=1.0)
    async with gateway_client(
        env(sims), store="redis://", mutate=efficient_takes_one_image, upstream=upstream
    ) as (client, _):
        resp = await client.post(URL, json={**PHOTO, "n": 2}, headers=AUTH)
        # The flagship's outage, not the request, is why there is no image.
        assert resp.status_code == 502, resp.text
        assert backend_requests(sims["efficient"]) == 0
        day = await budget(client)
        assert (day["spent_micros"], day["reserved_micros"]) == (0, 0)


async def test_a_body_trickling_past_the_tier_timeout_is_a_504_with_nothing_charged(
    upstream: str, sims: dict[str, Server]
) -> None:
    # Every chunk arrives well within the 2 s read timeout; the whole body takes 8 s.
    faults(sims["efficient"], slow_body_rate=1.0, slow_body_s=8)
    async with gateway_client(
        env(sims), store="redis://", mutate=fast_retries, upstream=upstream
    ) as (client, app):
        started = time.monotonic()
        resp = await client.post(URL, json=GENERAL, headers=AUTH)
        assert resp.status_code == 504, resp.text
        assert resp.json()["error"]["code"] == "upstream_timeout"
        # timeout_seconds (2) bounds the whole attempt: the reservation deadline and the
        # idempotency claim, both sized from it, outlive the request.
        assert time.monotonic() - started < 4
        day = await budget(client)
        assert (day["spent_micros"], day["reserved_micros"]) == (0, 0)
        assert await ledger(app) == []
