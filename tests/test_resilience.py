"""ResilientCaller with an injected backend: what it makes of failures no backend foresaw.

The simulator-driven tests (tests/reliability) cover retries, fallback and breakers over
HTTP; these pin the two cases a real tier cannot produce on demand.
"""

from __future__ import annotations

import asyncio

import pytest

from gateway.errors import UpstreamError
from gateway.pipeline.resilience import CircuitState, ResilientCaller
from gateway.policy.loader import load_policy
from gateway.upstream.backend import UpstreamCall, UpstreamResult

POLICY = load_policy()


def call(tier: str = "efficient") -> UpstreamCall:
    return UpstreamCall(
        tier=tier,
        model=POLICY.tiers[tier].model,
        prompt="a cat",
        n=1,
        size="1024x1024",
        quality=None,
        api_base=None,
        api_key=None,
        api_version=None,
        timeout_seconds=5,
    )


class Raises:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    async def generate(self, call: UpstreamCall) -> UpstreamResult:
        raise self.exc


class Hangs:
    async def generate(self, call: UpstreamCall) -> UpstreamResult:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")


async def no_sleep(seconds: float) -> None:
    return None


async def test_an_unforeseen_backend_exception_is_an_upstream_error() -> None:
    caller = ResilientCaller(POLICY, Raises(TypeError("'int' object is not iterable")))

    with pytest.raises(UpstreamError) as raised:
        await caller.call(["efficient"], call)

    assert raised.value.status_code == 502
    assert "TypeError" in raised.value.message


async def test_a_cancelled_probe_frees_the_half_open_circuit() -> None:
    now = [0.0]
    caller = ResilientCaller(
        POLICY, Raises(UpstreamError("down")), sleep=no_sleep, clock=lambda: now[0]
    )
    breaker = caller.breakers["efficient"]
    while breaker.state is CircuitState.closed:
        with pytest.raises(UpstreamError):
            await caller.call(["efficient"], call)
    now[0] += breaker.config.open_seconds
    assert breaker.state is CircuitState.half_open

    caller.backend = Hangs()
    probe = asyncio.create_task(caller.call(["efficient"], call))
    await asyncio.sleep(0)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe

    assert breaker.allow()  # the next call may probe; the cancelled one decided nothing
