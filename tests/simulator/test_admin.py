"""Admin endpoints, and every fault mode driven through them and observed with httpx."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest

from gateway.simulator import RunningSimulator

OPENAI = "/v1/images/generations"
MAI = "/mai/v1/images/generations"
REQUEST = {"prompt": "a red fox in the snow"}


async def _set_faults(client: httpx.AsyncClient, **faults: Any) -> dict[str, Any]:
    response = await client.put("/admin/faults", json=faults)
    assert response.status_code == 200, response.text
    settings: dict[str, Any] = response.json()
    return settings


async def _stats(client: httpx.AsyncClient) -> dict[str, Any]:
    stats: dict[str, Any] = (await client.get("/admin/stats")).json()
    return stats


async def test_faults_read_update_and_reset(client: httpx.AsyncClient) -> None:
    initial = (await client.get("/admin/faults")).json()
    assert initial["error_rate"] == 0.0 and initial["fail_next"] == 0
    assert initial["hang_s"] == 3600.0
    updated = await _set_faults(client, error_rate=0.25, retry_after_s=7)
    assert updated == {**initial, "error_rate": 0.25, "retry_after_s": 7}
    assert (await client.get("/admin/faults")).json() == updated
    reset = (await client.post("/admin/reset")).json()
    assert reset["faults"] == initial
    assert reset["stats"]["requests_total"] == 0


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"error_rate": 1.5}, "error_rate"),
        ({"no_such_fault": 1}, "no_such_fault"),
        ({"error_rate": 0.6, "reset_rate": 0.6}, None),
        ({"fail_next_status": 200}, "fail_next_status"),
    ],
)
async def test_bad_fault_updates_are_400s_and_change_nothing(
    client: httpx.AsyncClient, patch: dict[str, Any], param: str | None
) -> None:
    before = (await client.get("/admin/faults")).json()
    response = await client.put("/admin/faults", json=patch)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert (await client.get("/admin/faults")).json() == before


async def test_fault_updates_must_be_json_objects(client: httpx.AsyncClient) -> None:
    assert (await client.put("/admin/faults", content=b"[]")).status_code == 400
    assert (await client.put("/admin/faults", content=b"nope")).status_code == 400


async def test_error_rate_answers_500_in_openai_shape(client: httpx.AsyncClient) -> None:
    await _set_faults(client, error_rate=1.0)
    for path in (OPENAI, MAI):
        response = await client.post(path, json=REQUEST)
        assert response.status_code == 500
        assert response.headers["x-tiergate-simulator"] == "flagship"
        assert response.json()["error"]["type"] == "server_error"


async def test_rate_limit_answers_429_with_retry_after(client: httpx.AsyncClient) -> None:
    await _set_faults(client, rate_limit_rate=1.0, retry_after_s=1)
    response = await client.post(OPENAI, json=REQUEST)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert response.headers["retry-after-ms"] == "1000"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"


async def test_fail_next_fails_exactly_n_requests(client: httpx.AsyncClient) -> None:
    await _set_faults(client, fail_next=2)
    statuses = [(await client.post(OPENAI, json=REQUEST)).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    assert (await client.get("/admin/faults")).json()["fail_next"] == 0
    assert (await _stats(client))["by_outcome"] == {"fail_next": 2, "ok": 1}


async def test_fail_next_can_use_another_status(client: httpx.AsyncClient) -> None:
    await _set_faults(client, fail_next=1, fail_next_status=429, retry_after_s=2)
    response = await client.post(MAI, json=REQUEST)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert (await client.get("/admin/faults")).json()["fail_next"] == 0


async def test_invalid_requests_do_not_use_up_fail_next(client: httpx.AsyncClient) -> None:
    await _set_faults(client, fail_next=1)
    assert (await client.post(OPENAI, json={})).status_code == 400
    assert (await client.post(OPENAI, json=REQUEST)).status_code == 500


async def test_malformed_answers_200_that_is_not_json(client: httpx.AsyncClient) -> None:
    await _set_faults(client, malformed_rate=1.0)
    response = await client.post(OPENAI, json=REQUEST)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


async def test_reset_drops_the_connection_without_a_response(client: httpx.AsyncClient) -> None:
    await _set_faults(client, reset_rate=1.0)
    for path in (OPENAI, MAI):
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await client.post(path, json=REQUEST)
    await _set_faults(client, reset_rate=0.0)
    assert (await client.post(OPENAI, json=REQUEST)).status_code == 200  # a new connection
    stats = await _stats(client)
    assert stats["by_outcome"] == {"reset": 2, "ok": 1}
    assert stats["in_flight"] == 0


async def test_hang_outlasts_the_client_timeout_and_ends_when_it_leaves(
    client: httpx.AsyncClient,
) -> None:
    await _set_faults(client, hang_rate=1.0)
    with pytest.raises(httpx.ReadTimeout):
        await client.post(OPENAI, json=REQUEST, timeout=0.3)
    for _ in range(100):  # up to 2 s
        if (await _stats(client))["in_flight"] == 0:
            break
        await asyncio.sleep(0.02)
    assert (await _stats(client))["in_flight"] == 0  # the server noticed the client left


async def test_a_short_hang_then_answers(client: httpx.AsyncClient) -> None:
    await _set_faults(client, hang_rate=1.0, hang_s=0.3)
    started = time.perf_counter()
    response = await client.post(OPENAI, json=REQUEST)
    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.28
    assert response.json()["usage"]["output_tokens"] == 1056


async def test_slow_body_trickles_out(client: httpx.AsyncClient) -> None:
    await _set_faults(client, slow_body_rate=1.0, slow_body_s=0.4)
    started = time.perf_counter()
    response = await client.post(OPENAI, json=REQUEST)
    assert time.perf_counter() - started >= 0.3
    assert response.status_code == 200
    assert response.headers["x-tiergate-simulator"] == "flagship"
    assert response.json()["usage"]["output_tokens"] == 1056  # the whole body, eventually
    with pytest.raises(httpx.ReadTimeout):
        await client.post(OPENAI, json=REQUEST, timeout=httpx.Timeout(5.0, read=0.02))


async def test_seeded_rates_are_repeatable(client: httpx.AsyncClient) -> None:
    async def run() -> list[int]:
        await _set_faults(client, error_rate=0.5, fault_seed=11)
        return [(await client.post(OPENAI, json=REQUEST)).status_code for _ in range(12)]

    first = await run()
    assert set(first) == {200, 500}
    assert await run() == first


async def test_stats_count_image_requests_only(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    await client.post(OPENAI, json={**REQUEST, "n": 2})
    await client.post(MAI, json={**REQUEST, "model": "MAI-Image-2"})
    await client.post(OPENAI, json={})
    await _set_faults(client, error_rate=1.0)
    await client.post(OPENAI, json=REQUEST)
    assert await _stats(client) == {
        "requests_total": 4,
        "in_flight": 0,
        "images_total": 3,
        "by_endpoint": {OPENAI: 3, MAI: 1},
        "by_model": {"gpt-image-1": 2, "MAI-Image-2": 1},
        "by_outcome": {"ok": 2, "invalid_request": 1, "error": 1},
    }
    await client.post("/admin/reset")
    assert (await _stats(client))["requests_total"] == 0


async def test_health_and_unknown_routes_carry_the_header(
    client: httpx.AsyncClient, simulator: RunningSimulator
) -> None:
    health = await client.get("/healthz")
    assert health.json() == {"status": "ok", "profile": "flagship"}
    missing = await client.get("/v2/nothing")
    wrong_method = await client.get(OPENAI)
    for response in (health, missing, wrong_method):
        assert response.headers["x-tiergate-simulator"] == simulator.config.profile
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert wrong_method.status_code == 405
