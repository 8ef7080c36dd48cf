"""Budget-aware routing over HTTP on the real Redis: soft limit, hard limit, latency budget, /v1/budget."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.conftest import TEAM_KEYS
from tests.gateway_harness import gateway_client
from tests.support import require_redis

pytestmark = pytest.mark.redis

AUTH = {"Authorization": f"Bearer {TEAM_KEYS['alpha']}"}
URL = "/v1/images/generations"
GENERAL = {"prompt": "a bowl of fruit on a wooden table"}
PHOTO = {"prompt": "a DSLR photograph of a lighthouse at dawn, 50mm lens, f/1.8"}


@pytest.fixture(autouse=True)
def _redis() -> None:
    require_redis()


async def day_window(client: httpx.AsyncClient) -> dict[str, Any]:
    body = (await client.get("/v1/budget", headers=AUTH)).json()
    return next(w for w in body["windows"] if w["period"] == "day")  # type: ignore[no-any-return]


async def test_soft_limit_downgrades_and_hard_limit_refuses(sim_env: dict[str, str]) -> None:
    alpha = {"budgets": [{"period": "day", "limit_usd": 0.1, "soft_limit_fraction": 0.5}]}
    async with gateway_client(sim_env, store="redis://", alpha=alpha) as (client, _):
        first = await client.post(URL, json=PHOTO, headers=AUTH)
        assert first.headers["x-tiergate-tier"] == "flagship"
        assert "budget_soft_limit" not in first.headers["x-tiergate-route-reason"]
        remaining = float(first.headers["x-tiergate-budget-remaining-usd-day"])
        assert remaining == pytest.approx(
            0.1 - float(first.headers["x-tiergate-cost-usd"]), abs=1e-6
        )
        while (await day_window(client))["state"] == "ok":
            assert (await client.post(URL, json=GENERAL, headers=AUTH)).status_code == 200
        soft = await client.post(URL, json=PHOTO, headers=AUTH)
        assert soft.status_code == 200
        assert soft.headers["x-tiergate-tier"] == "efficient"
        assert soft.headers["x-tiergate-route-reason"].endswith("budget_soft_limit")
        statuses = [
            (await client.post(URL, json=GENERAL, headers=AUTH)).status_code for _ in range(6)
        ]
        assert statuses[-1] == 429
        refused = await client.post(URL, json=GENERAL, headers=AUTH)
        assert refused.json()["error"]["type"] == "insufficient_quota"
        assert refused.json()["error"]["code"] == "budget_exceeded"
        assert refused.headers["x-tiergate-budget-remaining-usd-day"]
        window = await day_window(client)
        assert window["state"] == "soft"  # "hard" once spent + reserved reaches the limit
        assert window["remaining_micros"] < int(refused.json()["error"]["message"] != "") * 20_632
        assert window["spent_micros"] <= window["limit_micros"]
        assert window["reserved_micros"] == 0


async def test_latency_budget_header_picks_a_tier_that_fits(sim_env: dict[str, str]) -> None:
    async with gateway_client(sim_env, store="redis://") as (client, app):
        store = app.state.tiergate.store
        now_ms = int(time.time() * 1000)
        for i in range(20):
            await store.record_latency("flagship", 9000 + i, now_ms)
            await store.record_latency("efficient", 3000 + i, now_ms)
        resp = await client.post(
            URL, json=PHOTO, headers={**AUTH, "x-tiergate-max-latency-ms": "5000"}
        )
        assert resp.status_code == 200
        assert resp.headers["x-tiergate-tier"] == "efficient"
        assert "latency_budget:p95_" in resp.headers["x-tiergate-route-reason"]
        unconstrained = await client.post(URL, json=PHOTO, headers=AUTH)
        assert unconstrained.headers["x-tiergate-tier"] == "flagship"
        bad = await client.post(
            URL, json=PHOTO, headers={**AUTH, "x-tiergate-max-latency-ms": "soon"}
        )
        assert (
            bad.status_code == 400 and bad.json()["error"]["param"] == "x-tiergate-max-latency-ms"
        )
        latency = (await client.get("/v1/budget", headers=AUTH)).json()["latency"]
        assert latency["flagship"]["count"] >= 20 and latency["flagship"]["p95_ms"] >= 9000


async def test_budget_endpoint_reports_only_the_callers_team(sim_env: dict[str, str]) -> None:
    async with gateway_client(
        sim_env,
        store="redis://",
        alpha={
            "budgets": [{"period": "day", "limit_usd": 5}, {"period": "month", "limit_usd": 50}]
        },
    ) as (client, _):
        await client.post(URL, json=GENERAL, headers=AUTH)
        body = (await client.get("/v1/budget", headers=AUTH)).json()
        assert body["team"] == "alpha"
        assert {(w["period"], w["limit_usd"]) for w in body["windows"]} == {
            ("day", 5.0),
            ("month", 50.0),
        }
        for window in body["windows"]:
            assert window["remaining_micros"] == window["limit_micros"] - window["spent_micros"]
            assert window["state"] == "ok"
        beta = (
            await client.get("/v1/budget", headers={"Authorization": f"Bearer {TEAM_KEYS['beta']}"})
        ).json()
        assert beta["team"] == "beta" and beta["windows"] == []
        assert (await client.get("/v1/budget")).status_code == 401
