"""Live policy reload on a running `tiergate serve` with requests in flight: the file watch,
the admin endpoint and SIGHUP swap a valid policy in, keep the old one for a broken file,
and no request fails."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import signal
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
from tests.conftest import ADMIN_KEY, TEAM_KEYS, policy_dict, sha
from tests.support import REDIS_URL, Server, gateway, require_redis, simulator

pytestmark = [pytest.mark.redis]

PROMPT = "a bowl of fruit on a wooden table"
NEW_KEY = "tg-test-gamma-new"
URL = "/v1/images/generations"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def write(path: Path, raw: dict[str, Any] | str) -> str:
    text = raw if isinstance(raw, str) else yaml.safe_dump(raw)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)  # as an editor or a ConfigMap update does: the file is replaced whole
    return text


def efficient_cost(price: str) -> Decimal:
    micros = Decimal(count_text_tokens(PROMPT)) * 5 + Decimal(1056) * Decimal(price)
    return (micros / 1_000_000).quantize(Decimal("0.000001"), rounding="ROUND_CEILING")


def readyz(server: Server, key: str = ADMIN_KEY) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(
        server.url + "/readyz", headers={"Authorization": f"Bearer {key}"}
    ).json()
    return body


def wait_for(server: Server, predicate: Any, timeout_s: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        body = readyz(server)
        if predicate(body["policy"]):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def generate(server: Server, key: str) -> httpx.Response:
    return httpx.post(
        server.url + URL, json={"prompt": PROMPT}, headers={"Authorization": f"Bearer {key}"}
    )


@pytest.fixture
def running(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[Server, Path, dict[str, Any], str]]:
    """A gateway on Redis whose policy file is watched every ``request.param`` seconds."""
    require_redis()
    watch = getattr(request, "param", "0.1")
    raw = policy_dict()
    path = tmp_path / "policy.yaml"
    text = write(path, raw)
    prefix = "tgreload-" + uuid.uuid4().hex[:8]
    # A tier that takes 0.35-0.45 s, so requests are in flight whenever the policy changes.
    with (
        simulator("efficient", None, "--latency-scale", "0.05") as efficient,
        simulator("flagship", None, "--latency-scale", "0.05") as flagship,
    ):
        env = {
            "TIERGATE_STORE": REDIS_URL,
            "TIERGATE_STORE_KEY_PREFIX": prefix,
            "TIERGATE_SIM_EFFICIENT_PORT": str(efficient.port),
            "TIERGATE_SIM_FLAGSHIP_PORT": str(flagship.port),
            "TIERGATE_POLICY_WATCH_INTERVAL_SECONDS": watch,
        }
        with gateway(path, env=env) as server:
            yield server, path, raw, text
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)


async def load(server: Server, stop: asyncio.Event, workers: int = 8) -> list[httpx.Response]:
    """Requests from ``workers`` clients back to back until ``stop``; every response."""
    responses: list[httpx.Response] = []
    headers = {"Authorization": f"Bearer {TEAM_KEYS['demo']}"}

    async def worker(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            responses.append(await client.post(URL, json={"prompt": PROMPT}, headers=headers))

    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(workers)))
    return responses


def changed(raw: dict[str, Any]) -> dict[str, Any]:
    """A new key for a new team, alpha's key removed, Efficient's image price doubled."""
    new = copy.deepcopy(raw)
    new["teams"]["gamma"] = {"keys": [{"id": "gamma-1", "sha256": sha(NEW_KEY)}]}
    del new["teams"]["alpha"]
    new["tiers"]["efficient"]["pricing"]["image_output_per_mtok"] = 39.0
    return new


async def test_file_change_under_load_swaps_keys_and_prices_and_keeps_old_for_broken(
    running: tuple[Server, Path, dict[str, Any], str],
) -> None:
    server, path, raw, text = running
    assert readyz(server)["policy"]["sha256"] == digest(text)
    assert generate(server, TEAM_KEYS["alpha"]).status_code == 200
    assert generate(server, NEW_KEY).status_code == 401
    spent_before = budget_spent(server)

    stop = asyncio.Event()
    traffic = asyncio.create_task(load(server, stop))
    await asyncio.sleep(1.0)
    new_text = await asyncio.to_thread(write, path, changed(raw))
    await asyncio.to_thread(wait_for, server, lambda p: p["sha256"] == digest(new_text))
    await asyncio.sleep(1.0)
    # A broken file: the policy in force stays, the errors name the path.
    broken = copy.deepcopy(changed(raw))
    broken["teams"]["demo"]["budgets"][0]["limit_usd"] = -5
    broken["routing"]["typo_field"] = True
    await asyncio.to_thread(write, path, broken)
    failed = await asyncio.to_thread(wait_for, server, lambda p: p["reload_error"] is not None)
    await asyncio.sleep(1.0)
    stop.set()
    responses = await traffic

    assert failed["policy"]["sha256"] == digest(new_text)
    errors = failed["policy"]["reload_error"]["errors"]
    assert any(e.startswith("teams.demo.budgets[0].limit_usd") for e in errors), errors
    assert any(e.startswith("routing.typo_field") for e in errors), errors
    # Without an admin key (a probe), /readyz counts the errors and does not show them.
    anonymous = httpx.get(server.url + "/readyz").json()["policy"]["reload_error"]
    assert anonymous["error_count"] == len(errors) and "errors" not in anonymous
    metrics = httpx.get(
        server.url + "/metrics", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ).text
    assert "tiergate_policy_reload_failing 1.0" in metrics
    assert f'tiergate_policy_info{{digest="{digest(new_text)[:12]}"}} 1.0' in metrics

    # No request failed, and each was priced by the policy it started under.
    assert responses and all(r.status_code == 200 for r in responses), {
        r.status_code for r in responses
    }
    prices = {digest(text)[:12]: "19.5", digest(new_text)[:12]: "39"}
    served_by = {r.headers["x-tiergate-policy"] for r in responses}
    assert served_by == set(prices)
    for r in responses:
        assert Decimal(r.headers["x-tiergate-cost-usd"]) == efficient_cost(
            prices[r.headers["x-tiergate-policy"]]
        )
    # After the swap: the new key works, the removed one does not, the price is the new one.
    assert generate(server, NEW_KEY).status_code == 200
    assert generate(server, TEAM_KEYS["alpha"]).status_code == 401
    latest = generate(server, TEAM_KEYS["demo"])
    assert Decimal(latest.headers["x-tiergate-cost-usd"]) == efficient_cost("39")
    # Budgets carried over: what was spent before the reload is still spent.
    total = sum(Decimal(r.headers["x-tiergate-cost-usd"]) for r in [*responses, latest])
    assert budget_spent(server) - spent_before == total
    assert budget_reserved(server) == 0


def budget_window(server: Server) -> dict[str, Any]:
    resp = httpx.get(
        server.url + "/v1/budget", headers={"Authorization": f"Bearer {TEAM_KEYS['demo']}"}
    )
    window: dict[str, Any] = next(w for w in resp.json()["windows"] if w["period"] == "day")
    return window


def budget_spent(server: Server) -> Decimal:
    return Decimal(budget_window(server)["spent_micros"]) / 1_000_000


def budget_reserved(server: Server) -> int:
    return int(budget_window(server)["reserved_micros"])


@pytest.mark.parametrize("running", ["0"], indirect=True)  # no file watch: only these two
def test_admin_endpoint_and_sighup_reload(
    running: tuple[Server, Path, dict[str, Any], str],
) -> None:
    server, path, raw, text = running
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    reload_url = server.url + "/v1/admin/policy/reload"
    assert httpx.post(reload_url, headers=admin).json() == {
        "status": "unchanged",
        "policy": digest(text),
    }
    team = httpx.post(reload_url, headers={"Authorization": f"Bearer {TEAM_KEYS['demo']}"})
    assert team.status_code == 403
    assert httpx.post(reload_url).status_code == 401

    # A broken file through the endpoint: a 400 naming the problem; the old policy stays.
    write(path, "tiers: [not, a, mapping\n")
    refused = httpx.post(reload_url, headers=admin)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_policy"
    assert "YAML syntax" in refused.json()["error"]["message"]
    assert generate(server, TEAM_KEYS["alpha"]).status_code == 200

    # SIGHUP reloads the (now valid) file.
    new_text = write(path, changed(raw))
    assert server.proc is not None
    server.proc.send_signal(signal.SIGHUP)
    wait_for(server, lambda p: p["sha256"] == digest(new_text) and p["reload_error"] is None)
    assert generate(server, NEW_KEY).status_code == 200
    assert generate(server, TEAM_KEYS["alpha"]).status_code == 401
