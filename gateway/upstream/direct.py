"""The direct HTTP backend for OpenAI- and MAI-shaped tiers, and the router that picks it.

``HttpxImageBackend`` implements ``ImageBackend`` over one pooled client (aiohttp by default,
or httpx) for the two request shapes in ``upstream.wire``: ``openai/<model>`` and
``azure_ai/MAI-Image-…`` tiers with an ``api_base``. It raises the same ``gateway.errors`` as
``upstream.translate_exception``. ``RoutingBackend`` sends calls those shapes cover to it and
every other provider to ``LiteLLMBackend``, built only if some tier needs it (importing litellm
costs seconds of start-up and ~150 MB). A litellm call spends most of its CPU on logging
objects, success callbacks, cost calculation and re-wrapping the response; this path does none
of that (the gateway prices from the returned usage itself).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import httpx
import orjson

from gateway.errors import UpstreamError, UpstreamTimeout
from gateway.upstream.backend import (
    ImageBackend,
    PartialImage,
    UpstreamCall,
    UpstreamResult,
)
from gateway.upstream.wire import (
    JSON_HEADERS,
    build_request,
    direct_shape,
    failure_name,
    parse_result,
    status_error,
    upstream_error,
    usage_tokens,
)


class HttpxImageBackend:
    """``ImageBackend`` for OpenAI- and MAI-shaped endpoints over one pooled HTTP client.

    ``transport="aiohttp"`` (default, ``TIERGATE_UPSTREAM_TRANSPORT``) sends through one
    ``aiohttp.ClientSession`` (C-accelerated HTTP/1.1): 0.23 ms of CPU per call against 0.89 ms
    for httpx's own stack and 0.57 ms for httpx over an aiohttp transport, whether ours or the
    ``httpx-aiohttp`` package's (``bench/upstream_micro.py``): httpx's client layer alone costs
    ~0.35 ms. ``"httpx"`` (or ``"httpcore"``) is one ``httpx.AsyncClient``; so is a ``client``
    passed in (tests inject ``httpx.MockTransport``). Both raise the same gateway errors.
    """

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        transport: str = "aiohttp",
        max_connections: int = 512,
        max_keepalive_connections: int = 128,
        keepalive_expiry_seconds: float = 4.0,
    ) -> None:
        if transport not in ("aiohttp", "httpx", "httpcore"):
            raise ValueError(f"unknown transport {transport!r}: use 'aiohttp' or 'httpx'")
        # Keep-alive expiry under uvicorn's default 5 s server timeout, so an idle pooled
        # connection is dropped by us before the server closes it under a new request.
        self._aiohttp: _AiohttpClient | None = None
        self._injected = client
        self._owned: httpx.AsyncClient | None = None
        self._limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive_connections,
            keepalive_expiry=keepalive_expiry_seconds,
        )
        if client is None and transport == "aiohttp":
            self._aiohttp = _AiohttpClient(max_connections, keepalive_expiry_seconds)

    @property
    def _client(self) -> httpx.AsyncClient:
        """The injected client, or our own, opened again after ``aclose`` (a later lifespan)."""
        if self._injected is not None:
            return self._injected
        if self._owned is None or self._owned.is_closed:
            self._owned = httpx.AsyncClient(
                limits=self._limits, follow_redirects=False, trust_env=False
            )
        return self._owned

    async def aclose(self) -> None:
        """Close the pools this backend opened; it reopens them if used again."""
        if self._owned is not None:
            await self._owned.aclose()
            self._owned = None
        if self._aiohttp is not None:
            await self._aiohttp.aclose()

    async def generate(self, call: UpstreamCall) -> UpstreamResult:
        shape = direct_shape(call.model, call.api_base)
        if shape is None:
            raise UpstreamError(f"The {call.tier} tier's model {call.model!r} has no direct path.")
        url, headers, body = build_request(call, shape)
        if call.on_partial is not None and shape == "openai":
            return await self._stream(call, url, headers, body)
        content = orjson.dumps(body)
        started = time.perf_counter()
        if self._aiohttp is not None:
            status, response_headers, payload = await self._aiohttp.post(
                url, {**JSON_HEADERS, **headers}, content, call.timeout_seconds, call.tier
            )
        else:
            status, response_headers, payload = await self._post_httpx(
                url, headers, content, call.timeout_seconds, call.tier
            )
        latency_ms = (time.perf_counter() - started) * 1000
        if status >= 300:
            raise status_error(status, response_headers, bytes(payload), call.tier)
        return parse_result(payload, call.tier, latency_ms)

    async def _stream(
        self, call: UpstreamCall, url: str, headers: dict[str, str], body: dict[str, Any]
    ) -> UpstreamResult:
        """A streamed call (httpx, line by line): partial images go to ``call.on_partial``
        as they arrive; the result is the completed images and the usage. A tier that
        answers JSON all the same is read as an ordinary answer."""
        assert call.on_partial is not None
        body = {**body, "stream": True, "partial_images": call.partial_images}
        client = self._client
        request = client.build_request(
            "POST",
            url,
            content=orjson.dumps(body),
            headers={**JSON_HEADERS, **headers, "accept": "text/event-stream"},
            timeout=httpx.Timeout(call.timeout_seconds),
        )
        started = time.perf_counter()
        try:
            response = await client.send(request, stream=True)
            try:
                if response.status_code >= 300:
                    error = await response.aread()
                    raise status_error(response.status_code, response.headers, error, call.tier)
                if not response.headers.get("content-type", "").startswith("text/event-stream"):
                    payload = bytearray(await response.aread())
                    latency_ms = (time.perf_counter() - started) * 1000
                    return parse_result(payload, call.tier, latency_ms)
                images, usage, created = await _read_events(call, response.aiter_lines())
            finally:
                await response.aclose()
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(f"The {call.tier} tier did not answer in time.") from exc
        except httpx.HTTPError as exc:
            raise upstream_error(
                f"The {call.tier} tier failed ({failure_name(exc)}).", None
            ) from exc
        text_tokens, image_tokens = usage_tokens(usage)
        return UpstreamResult(
            images_b64=images,
            created=created or int(time.time()),
            text_tokens=text_tokens,
            image_tokens=image_tokens,
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    async def _post_httpx(
        self, url: str, headers: dict[str, str], content: bytes, timeout_seconds: float, tier: str
    ) -> tuple[int, Mapping[str, str], bytes]:
        client = self._client
        request = client.build_request(
            "POST",
            url,
            content=content,
            headers={**JSON_HEADERS, **headers},
            timeout=httpx.Timeout(timeout_seconds),
        )
        try:
            response = await client.send(request, stream=True)
            try:
                plain = _plain(response.headers)
                payload = await _read_body(
                    _declared_length(response.headers) if plain else None,
                    response.aiter_raw() if plain else response.aiter_bytes(),
                )
            finally:
                await response.aclose()
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(f"The {tier} tier did not answer in time.") from exc
        except (httpx.HTTPError, _BodyLengthError) as exc:  # connect errors, resets, protocol
            raise upstream_error(f"The {tier} tier failed ({failure_name(exc)}).", None) from exc
        return response.status_code, response.headers, payload


class _AiohttpClient:
    """One pooled ``aiohttp.ClientSession``, opened on first use (it needs the running loop)."""

    def __init__(self, max_connections: int, keepalive_expiry_seconds: float) -> None:
        import aiohttp

        self._aiohttp = aiohttp
        self._connector_args: dict[str, Any] = {
            "limit": max_connections,
            "keepalive_timeout": keepalive_expiry_seconds,
            "enable_cleanup_closed": False,
        }
        self._session: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timeouts: dict[float, Any] = {}

    def _get_session(self) -> Any:
        # A session belongs to the loop it was opened on; the app can outlive a loop (ASGI test
        # clients run each lifespan on its own), so a new loop gets a new session.
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or loop is not self._loop:
            aiohttp = self._aiohttp
            self._loop = loop
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(**self._connector_args),
                auto_decompress=True,
                trust_env=False,
            )
        return self._session

    def _timeout(self, seconds: float) -> Any:
        """Like ``httpx.Timeout(seconds)``: each of pool wait + connect, and every read."""
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            timeout = self._timeouts[seconds] = self._aiohttp.ClientTimeout(
                connect=seconds, sock_connect=seconds, sock_read=seconds
            )
        return timeout

    async def post(
        self, url: str, headers: dict[str, str], content: bytes, timeout_seconds: float, tier: str
    ) -> tuple[int, Mapping[str, str], bytes]:
        try:
            async with self._get_session().post(
                url,
                data=content,
                headers=headers,
                allow_redirects=False,
                timeout=self._timeout(timeout_seconds),
            ) as response:
                # aiohttp decodes any content-encoding itself; Content-Length is then the
                # encoded size, so only a plain body is checked against it.
                payload = await _read_body(
                    _declared_length(response.headers) if _plain(response.headers) else None,
                    _chunks(response.content),
                )
                return response.status, response.headers, payload
        except TimeoutError as exc:  # aiohttp's connect and read timeouts subclass it
            raise UpstreamTimeout(f"The {tier} tier did not answer in time.") from exc
        except (self._aiohttp.ClientError, _BodyLengthError) as exc:  # connect errors, resets
            raise upstream_error(f"The {tier} tier failed ({failure_name(exc)}).", None) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


async def _read_events(
    call: UpstreamCall, lines: AsyncIterator[str]
) -> tuple[list[str], object, int | None]:
    """(completed images, usage, created) of an image event stream; partials are handed on."""
    assert call.on_partial is not None
    images: list[str] = []
    usage: object = None
    created: int | None = None
    async for line in lines:
        if not line.startswith("data:"):
            continue  # event names, comments and blank separators: the data says its type
        try:
            event = orjson.loads(line[5:])
        except orjson.JSONDecodeError:
            raise UpstreamError(f"The {call.tier} tier sent an unreadable event.") from None
        kind = str(event.get("type", "")) if isinstance(event, dict) else ""
        if kind.endswith(".partial_image") and isinstance(event.get("b64_json"), str):
            index = event.get("partial_image_index")
            await call.on_partial(
                PartialImage(call.tier, event["b64_json"], index if isinstance(index, int) else 0)
            )
        elif kind.endswith(".completed") and isinstance(event.get("b64_json"), str):
            images.append(event["b64_json"])
            usage = event.get("usage") or usage
            if isinstance(event.get("created_at"), int):
                created = event["created_at"]
        elif kind == "error":
            raise UpstreamError(f"The {call.tier} tier failed while streaming.")
    if not images:
        raise UpstreamError(f"The {call.tier} tier's stream ended without an image.")
    return images, usage, created


class _BodyLengthError(Exception):
    """The body did not match its Content-Length."""


def _plain(headers: Mapping[str, str]) -> bool:
    return headers.get("content-encoding") is None


def _declared_length(headers: Mapping[str, str]) -> int | None:
    declared = headers.get("content-length")
    return int(declared) if declared is not None and declared.isdigit() else None


async def _read_body(size: int | None, chunks: AsyncIterator[bytes]) -> bytes:
    """The whole body as one ``bytes``: the chunks as they came, joined once at the end.

    That is one copy of a multi-MiB image: no zero-filled buffer to copy into, and no
    re-joining of chunks that arrived together (aiohttp's ``readany`` joins what it has
    buffered; ``iter_chunks`` hands each chunk over as it is). The chunks and their join
    coexist only for the join itself. ``size``, the Content-Length, is checked when given.
    """
    parts: list[bytes] = []
    filled = 0
    async for chunk in chunks:
        filled += len(chunk)
        if size is not None and filled > size:
            raise _BodyLengthError("body longer than its Content-Length")
        parts.append(chunk)
    if size is not None and filled != size:
        raise _BodyLengthError("body shorter than its Content-Length")
    return b"".join(parts)  # a lone chunk comes back as it is, uncopied


async def _chunks(content: Any) -> AsyncIterator[bytes]:
    """aiohttp's body chunks one by one, as they arrived (``iter_chunks`` without its
    end-of-HTTP-chunk flags)."""
    async for chunk, _ in content.iter_chunks():
        if chunk:
            yield chunk


class RoutingBackend:
    """The direct path for the generations of the tiers it covers, litellm (built only when
    needed) for the rest and for edits."""

    def __init__(
        self,
        tiers: Iterable[tuple[str, str | None]],
        *,
        direct: HttpxImageBackend | None = None,
        fallback: ImageBackend | None = None,
    ) -> None:
        """``tiers``: (litellm model string, api_base) of every tier the policy has."""
        tiers = list(tiers)
        self.direct = direct or HttpxImageBackend()
        self.fallback = fallback
        if fallback is None and any(direct_shape(m, b) is None for m, b in tiers):
            from gateway.upstream.backend import LiteLLMBackend

            self.fallback = LiteLLMBackend()

    async def generate(self, call: UpstreamCall) -> UpstreamResult:
        # Edits (multipart uploads, a few per image pipeline) go through litellm's aimage_edit.
        if not call.is_edit and direct_shape(call.model, call.api_base) is not None:
            return await self.direct.generate(call)
        if self.fallback is None:
            from gateway.upstream.backend import LiteLLMBackend

            self.fallback = LiteLLMBackend()
        return await self.fallback.generate(call)

    async def aclose(self) -> None:
        await self.direct.aclose()
