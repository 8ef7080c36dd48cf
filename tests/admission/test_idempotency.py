"""Idempotency-Key claims on both backends: a request only finishes its own claim."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from gateway.admission.idempotency import Idempotency, open_idempotency_backend
from tests.gateway_harness import delete_prefix
from tests.support import REDIS_URL, require_redis

BODY = b'{"prompt": "a cat"}'
CLAIM_SECONDS = 0.3


@pytest.fixture(params=["memory://", "redis"])
async def idempotency(request: pytest.FixtureRequest) -> AsyncIterator[Idempotency]:
    prefix = "tgidem-" + uuid.uuid4().hex[:8]
    if request.param == "redis":
        require_redis()
    url = REDIS_URL if request.param == "redis" else "memory://"
    opened = Idempotency(open_idempotency_backend(url), key_prefix=prefix, poll_seconds=0.01)
    yield opened
    await opened.close()
    if request.param == "redis":
        await delete_prefix(prefix)


async def test_a_request_whose_claim_expired_cannot_touch_the_next_claim(
    idempotency: Idempotency,
) -> None:
    assert await idempotency.begin("demo", "k1", BODY, CLAIM_SECONDS, owner="req_a") is None
    await asyncio.sleep(CLAIM_SECONDS + 0.1)  # req_a ran past its claim ...
    assert await idempotency.begin("demo", "k1", BODY, 5, owner="req_b") is None  # ... b runs

    # req_a ends: it may neither free the key nor store its response over b's claim.
    assert not await idempotency.abandon("demo", "k1", BODY, owner="req_a")
    assert not await idempotency.complete("demo", "k1", BODY, 200, {}, b'{"a": 1}', "req_a")
    assert await idempotency.complete("demo", "k1", BODY, 200, {}, b'{"b": 2}', owner="req_b")

    replay = await idempotency.begin("demo", "k1", BODY, 5, owner="req_c")
    assert replay is not None and replay.body == b'{"b": 2}'


async def test_an_abandoned_claim_frees_the_key_for_a_retry(idempotency: Idempotency) -> None:
    assert await idempotency.begin("demo", "k2", BODY, 5, owner="req_a") is None
    assert await idempotency.abandon("demo", "k2", BODY, owner="req_a")

    assert await idempotency.begin("demo", "k2", BODY, 5, owner="req_b") is None
