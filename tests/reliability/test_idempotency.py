"""Idempotency-Key: one backend call and one charge, however a client or agent retries."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.errors import StoreUnavailable
from tests.conftest import TEAM_KEYS
from tests.gateway_harness import gateway_client, sim_env_for
from tests.support import Server, require_redis, simulator

pytestmark = pytest.mark.redis

URL = "/v1/images/generations"
BODY = {"prompt": "a bowl of fruit on a wooden table"}


def auth(team: str = "demo", key: str = "req-1") -> dict[str, str]:
    return {"Authorization": f"Bearer {TEAM_KEYS[team]}", "Idempotency-Key": key}


@pytest.fixture(scope="module")
def slow_sims() -> Iterator[dict[str, Server]]:
    require_redis()
    servers = {p: simulator(p) for p in ("efficient", "flagship")}
    for server in servers.values():
        server.args[server.args.index("--latency-scale") + 1] = "0.05"  # ~0.35 s a call
        server.start()
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture(autouse=True)
def _reset(slow_sims: dict[str, Server]) -> None:
    for server in slow_sims.values():
        httpx.post(server.url + "/admin/reset").raise_for_status()


def env(sims: dict[str, Server]) -> dict[str, str]:
    return sim_env_for(sims["efficient"].port, sims["flagship"].port)


def calls(sims: dict[str, Server]) -> int:
    return int(httpx.get(sims["efficient"].url + "/admin/stats").json()["requests_total"])


async def spent(client: httpx.AsyncClient, team: str = "demo") -> int:
    body = (
        await client.get("/v1/budget", headers={"Authorization": f"Bearer {TEAM_KEYS[team]}"})
    ).json()
    return sum(w["spent_micros"] for w in body["windows"] if w["period"] == "day")


async def ledger_count(app: Any, team: str = "demo") -> int:
    return len(await app.state.tiergate.store.ledger_events(team, 100))


async def test_retry_replays_the_first_response(slow_sims: dict[str, Server]) -> None:
    async with gateway_client(env(slow_sims), store="redis://") as (client, app):
        first = await client.post(URL, json=BODY, headers=auth())
        second = await client.post(URL, json=BODY, headers=auth())
        assert first.status_code == second.status_code == 200
        assert second.content == first.content
        assert second.headers["x-tiergate-idempotent-replay"] == "true"
        assert second.headers["x-tiergate-cost-usd"] == first.headers["x-tiergate-cost-usd"]
        assert calls(slow_sims) == 1
        assert await ledger_count(app) == 1
        assert await spent(client) == round(float(first.headers["x-tiergate-cost-usd"]) * 1e6)


async def test_racing_duplicates_call_the_backend_once(slow_sims: dict[str, Server]) -> None:
    async with gateway_client(env(slow_sims), store="redis://") as (client, app):
        responses = await asyncio.gather(
            *(client.post(URL, json=BODY, headers=auth(key="race")) for _ in range(4))
        )
        assert [r.status_code for r in responses] == [200] * 4
        assert len({r.content for r in responses}) == 1
        assert sum(r.headers.get("x-tiergate-idempotent-replay") == "true" for r in responses) == 3
        assert calls(slow_sims) == 1
        assert await ledger_count(app) == 1
        assert await spent(client) == round(
            float(responses[0].headers["x-tiergate-cost-usd"]) * 1e6
        )


async def test_same_key_different_body_is_409(slow_sims: dict[str, Server]) -> None:
    async with gateway_client(env(slow_sims), store="redis://") as (client, _):
        assert (await client.post(URL, json=BODY, headers=auth(key="k2"))).status_code == 200
        other = await client.post(
            URL, json={"prompt": "a different prompt"}, headers=auth(key="k2")
        )
        assert other.status_code == 409
        assert other.json()["error"]["code"] == "idempotency_key_reused"
        assert other.json()["error"]["param"] == "Idempotency-Key"
        assert calls(slow_sims) == 1


async def test_failure_frees_the_key_for_a_real_retry(slow_sims: dict[str, Server]) -> None:
    def no_retries(raw: dict[str, Any]) -> None:
        raw["tiers"]["efficient"].update(max_retries=0)

    httpx.put(
        slow_sims["efficient"].url + "/admin/faults", json={"fail_next": 1}
    ).raise_for_status()
    async with gateway_client(env(slow_sims), store="redis://", mutate=no_retries) as (client, app):
        failed = await client.post(URL, json=BODY, headers=auth(key="k3"))
        assert failed.status_code == 502
        retried = await client.post(URL, json=BODY, headers=auth(key="k3"))
        assert retried.status_code == 200
        assert "x-tiergate-idempotent-replay" not in retried.headers
        assert calls(slow_sims) == 2
        assert await ledger_count(app) == 1


async def test_keys_are_scoped_per_team(slow_sims: dict[str, Server]) -> None:
    async with gateway_client(env(slow_sims), store="redis://") as (client, _):
        demo = await client.post(URL, json=BODY, headers=auth("demo", "shared"))
        alpha = await client.post(URL, json=BODY, headers=auth("alpha", "shared"))
        assert demo.status_code == alpha.status_code == 200
        assert "x-tiergate-idempotent-replay" not in alpha.headers
        assert calls(slow_sims) == 2
        bad = await client.post(URL, json=BODY, headers=auth("demo", "x" * 300))
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "Idempotency-Key"


class LosesWrites:
    """The real idempotency backend, except that storing the finished response fails."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    async def finish(
        self, key: str, claim: bytes, record: bytes | None, ttl_seconds: float
    ) -> bool:
        if record is not None:
            raise StoreUnavailable("The idempotency store is unavailable.")
        return bool(await self._backend.finish(key, claim, record, ttl_seconds))


async def test_a_charged_image_is_returned_even_if_its_record_cannot_be_stored(
    slow_sims: dict[str, Server],
) -> None:
    async with gateway_client(env(slow_sims), store="redis://") as (client, app):
        idempotency = app.state.tiergate.idempotency
        idempotency.backend = LosesWrites(idempotency.backend)

        resp = await client.post(URL, json=BODY, headers=auth())

        # A 503 here would make the client retry an image it was already charged for.
        assert resp.status_code == 200, resp.text
        assert resp.json()["data"][0]["b64_json"]
        assert await spent(client) == round(float(resp.headers["x-tiergate-cost-usd"]) * 1e6)
