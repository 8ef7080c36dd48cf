"""The direct httpx backend and litellm, side by side, against the real simulator over HTTP.

Every behaviour the request path relies on (usage, error statuses, Retry-After, timeouts,
resets, malformed bodies) must look the same whichever backend serves the tier.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from collections.abc import AsyncIterator, Iterator

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import httpx
import pytest

from gateway.errors import UpstreamError, UpstreamTimeout
from gateway.simulator.tokens import text_tokens
from gateway.upstream.backend import ImageBackend, LiteLLMBackend, UpstreamCall, UpstreamResult
from gateway.upstream.direct import HttpxImageBackend, RoutingBackend
from gateway.upstream.wire import direct_shape, mai_url
from tests.support import Server, simulator

PROMPT = "an isometric illustration of a tiny bakery"

# litellm builds pydantic adapters for ReadOnly TypedDicts lazily; pydantic warns about them.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Items? .* using the `ReadOnly` qualifier:UserWarning"
)


@pytest.fixture(scope="module")
def sim() -> Iterator[Server]:
    with simulator("efficient") as server:
        yield server


@pytest.fixture
async def faults(sim: Server) -> AsyncIterator[httpx.AsyncClient]:
    """Admin client; faults and counters are reset before and after each test."""
    async with httpx.AsyncClient(base_url=sim.url, timeout=5) as admin:
        (await admin.post("/admin/reset")).raise_for_status()
        yield admin
        (await admin.post("/admin/reset")).raise_for_status()


@pytest.fixture(params=["litellm", "httpx-httpcore", "httpx-aiohttp"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[ImageBackend]:
    if request.param == "litellm":
        yield LiteLLMBackend()
        return
    direct = HttpxImageBackend(transport=request.param.removeprefix("httpx-"))
    try:
        yield direct
    finally:
        await direct.aclose()


def openai_call(sim: Server, timeout_seconds: float = 10.0) -> UpstreamCall:
    return openai_call_to(sim.url + "/v1", timeout_seconds)


def openai_call_to(api_base: str, timeout_seconds: float = 10.0) -> UpstreamCall:
    return UpstreamCall(
        tier="efficient",
        model="openai/mai-image-2-efficient",
        prompt=PROMPT,
        n=1,
        size="1024x1024",
        quality="medium",
        api_base=api_base,
        api_key="sk-sim",
        api_version=None,
        timeout_seconds=timeout_seconds,
    )


def mai_call(sim: Server) -> UpstreamCall:
    return UpstreamCall(
        tier="flagship",
        model="azure_ai/MAI-Image-2",
        prompt=PROMPT,
        n=1,
        size="1024x1024",
        quality=None,
        api_base=sim.url,
        api_key="sim",
        api_version=None,
        timeout_seconds=10.0,
    )


async def test_openai_shape_returns_the_image_and_usage(
    backend: ImageBackend, sim: Server, faults: httpx.AsyncClient
) -> None:
    result = await backend.generate(openai_call(sim))
    assert len(result.images_b64) == 1 and result.images_b64[0].startswith("iVBOR")
    assert result.text_tokens == text_tokens(PROMPT)
    assert result.image_tokens == 1056
    assert result.created > 0 and result.latency_ms > 0
    stats = (await faults.get("/admin/stats")).json()
    assert stats["by_endpoint"] == {"/v1/images/generations": 1}
    assert stats["by_model"] == {"mai-image-2-efficient": 1}


async def test_mai_shape_hits_the_mai_endpoint_and_normalises_usage(
    backend: ImageBackend, sim: Server, faults: httpx.AsyncClient
) -> None:
    result = await backend.generate(mai_call(sim))
    assert result.images_b64[0].startswith("iVBOR")
    assert result.text_tokens == text_tokens(PROMPT)
    assert result.image_tokens == 1056
    stats = (await faults.get("/admin/stats")).json()
    assert stats["by_endpoint"] == {"/mai/v1/images/generations": 1}


async def test_500_is_an_upstream_error_with_its_status(
    backend: ImageBackend, sim: Server, faults: httpx.AsyncClient
) -> None:
    (await faults.put("/admin/faults", json={"error_rate": 1.0})).raise_for_status()
    with pytest.raises(UpstreamError) as raised:
        await backend.generate(openai_call(sim))
    assert raised.value.upstream_status == 500  # type: ignore[attr-defined]


async def test_429_carries_retry_after(
    backend: ImageBackend, sim: Server, faults: httpx.AsyncClient
) -> None:
    patch = {"rate_limit_rate": 1.0, "retry_after_s": 7}
    (await faults.put("/admin/faults", json=patch)).raise_for_status()
    with pytest.raises(UpstreamError) as raised:
        await backend.generate(openai_call(sim))
    assert raised.value.upstream_status == 429  # type: ignore[attr-defined]
    assert raised.value.retry_after_seconds == 7  # type: ignore[attr-defined]


async def test_hang_is_an_upstream_timeout(
    backend: ImageBackend, sim: Server, faults: httpx.AsyncClient
) -> None:
    (await faults.put("/admin/faults", json={"hang_rate": 1.0, "hang_s": 5})).raise_for_status()
    with pytest.raises(UpstreamTimeout):
        await backend.generate(openai_call(sim, timeout_seconds=0.5))


@pytest.mark.parametrize("mode", ["reset_rate", "malformed_rate"])
async def test_reset_and_malformed_bodies_are_upstream_errors(
    backend: ImageBackend, sim: Server, faults: httpx.AsyncClient, mode: str
) -> None:
    (await faults.put("/admin/faults", json={mode: 1.0})).raise_for_status()
    with pytest.raises(UpstreamError):
        await backend.generate(openai_call(sim))


@pytest.mark.parametrize("transport", ["httpcore", "aiohttp"])
async def test_the_pool_recovers_after_a_reset(
    sim: Server, faults: httpx.AsyncClient, transport: str
) -> None:
    direct = HttpxImageBackend(transport=transport)
    try:
        (
            await faults.put("/admin/faults", json={"fail_next": 0, "reset_rate": 1.0})
        ).raise_for_status()
        with pytest.raises(UpstreamError):
            await direct.generate(openai_call(sim))
        (await faults.put("/admin/faults", json={"reset_rate": 0.0})).raise_for_status()
        assert (await direct.generate(openai_call(sim))).images_b64
    finally:
        await direct.aclose()


@pytest.mark.parametrize(
    ("model", "api_base", "shape"),
    [
        ("openai/gpt-image-1", "http://h/v1", "openai"),
        ("azure_ai/MAI-Image-2", "https://x.services.ai.azure.com", "mai"),
        ("azure_ai/mai-image-2-efficient", "https://x", "mai"),
        ("openai/gpt-image-1", None, None),
        ("azure_ai/flux-1.1-pro", "https://x", None),
        ("vertex_ai/imagen-4", "https://x", None),
        ("dall-e-3", "https://x", None),
    ],
)
def test_direct_shape_covers_openai_and_mai_with_an_api_base(
    model: str, api_base: str | None, shape: str | None
) -> None:
    assert direct_shape(model, api_base) == shape


def test_mai_url_matches_litellm() -> None:
    assert mai_url("https://x/", None) == "https://x/mai/v1/images/generations?api-version=preview"
    assert mai_url("https://x", "2025-04-01") == (
        "https://x/mai/v1/images/generations?api-version=2025-04-01"
    )
    assert mai_url("https://x/mai/v1/images/generations?api-version=v", None) == (
        "https://x/mai/v1/images/generations?api-version=v"
    )


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def generate(self, call: UpstreamCall) -> UpstreamResult:
        self.calls.append(call.model)
        return UpstreamResult(["x"], 1, None, None, 0.0)


async def test_routing_backend_sends_other_providers_to_the_fallback(sim: Server) -> None:
    fallback = Recorder()
    direct = HttpxImageBackend()
    routing = RoutingBackend([], direct=direct, fallback=fallback)
    try:
        other = UpstreamCall(
            tier="t",
            model="vertex_ai/imagen-4",
            prompt="p",
            n=1,
            size="1024x1024",
            quality=None,
            api_base=None,
            api_key=None,
            api_version=None,
            timeout_seconds=1,
        )
        await routing.generate(other)
        assert fallback.calls == ["vertex_ai/imagen-4"]
    finally:
        await direct.aclose()


def test_routing_backend_skips_litellm_when_every_tier_is_direct() -> None:
    routing = RoutingBackend([("openai/a", "http://h/v1"), ("azure_ai/MAI-Image-2", "https://x")])
    assert routing.fallback is None


@pytest.fixture(scope="module")
def large_sim() -> Iterator[Server]:
    """The simulator with every PNG padded to 1.1 MB: 1.4 MiB of base64 arrives in dozens
    of socket reads."""
    with simulator("efficient", None, "--image-bytes", "1100000") as server:
        yield server


@pytest.mark.parametrize("transport", ["httpcore", "aiohttp"])
async def test_a_large_image_arrives_whole(large_sim: Server, transport: str) -> None:
    direct = HttpxImageBackend(transport=transport)
    try:
        result = await direct.generate(openai_call(large_sim))
    finally:
        await direct.aclose()
    (image,) = list(result.images_b64)
    png = base64.b64decode(image, validate=True)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) >= 1_100_000
    assert result.image_tokens is not None


@pytest.mark.parametrize("transport", ["httpcore", "aiohttp"])
async def test_a_body_cut_short_is_an_upstream_error(transport: str) -> None:
    """A tier that promises 2 MB and hangs up after 1 MB: the half image is never passed on."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            b"content-length: 2000000\r\n\r\n" + b'{"data":[{"b64_json":"' + b"A" * 1_000_000
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    call = openai_call_to(f"http://127.0.0.1:{port}/v1")
    direct = HttpxImageBackend(transport=transport)
    try:
        with pytest.raises(UpstreamError):
            await direct.generate(call)
    finally:
        await direct.aclose()
        server.close()
        await server.wait_closed()


async def test_a_refused_connection_names_its_errno() -> None:
    """The 502's message (and the operator's log) tells a refused connect from a reset."""
    with socket.socket() as unused:  # a port that nothing listens on once it is closed
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    direct = HttpxImageBackend(transport="aiohttp")
    try:
        with pytest.raises(UpstreamError) as raised:
            await direct.generate(openai_call_to(f"http://127.0.0.1:{port}/v1"))
    finally:
        await direct.aclose()
    assert "ECONNREFUSED" in raised.value.message
