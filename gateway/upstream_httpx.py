"""A direct HTTP path to OpenAI-shaped and MAI-shaped image backends, and the router that picks it.

``HttpxImageBackend`` implements ``ImageBackend`` with one shared ``httpx.AsyncClient``
(pooled keep-alive connections) and orjson, for the two request shapes the tiers speak:

* ``openai/<model>`` with an ``api_base``: ``POST {api_base}/images/generations`` with
  ``{model, prompt, n, size, quality?, ...}`` and ``Authorization: Bearer``;
* ``azure_ai/MAI-Image-…`` with an ``api_base``: ``POST {api_base}/mai/v1/images/generations
  ?api-version=…`` with ``{model, prompt, width, height}`` and an ``api-key`` header, as
  litellm's ``llms/azure_ai/image_generation/mai_transformation.py`` builds it.

It raises the same ``gateway.errors`` as ``upstream.translate_exception`` (``UpstreamError`` with
``upstream_status`` and ``retry_after_seconds``, ``UpstreamTimeout``, ``InvalidRequest`` for a
content-policy refusal). ``RoutingBackend`` sends calls those shapes cover to it and every other
provider to ``LiteLLMBackend``, which it builds only if some tier needs it (importing litellm
costs seconds of start-up and ~150 MB).

A litellm call spends most of its ~2 ms of CPU on logging objects, success callbacks run in a
thread pool, cost calculation and re-wrapping the response in pydantic models; this path does
none of that (the gateway prices from the returned usage itself).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

import httpx
import orjson

from gateway.errors import GatewayError, InvalidRequest, UpstreamError, UpstreamTimeout
from gateway.upstream import (
    BASE64_ALPHABET,
    EncodedImages,
    ImageBackend,
    UpstreamCall,
    UpstreamResult,
)

MAI_DEFAULT_API_VERSION = "preview"
_JSON_HEADERS = {"content-type": "application/json", "accept": "application/json"}


def _mai_model(model: str) -> bool:
    """litellm's test (``is_mai_model``) for an ``azure_ai/…`` model name."""
    return "maiimage" in model.lower().replace("-", "").replace("_", "")


def direct_shape(model: str, api_base: str | None) -> str | None:
    """``"openai"`` or ``"mai"`` when the direct path serves this tier, else None (use litellm)."""
    if not api_base:
        return None
    provider, sep, name = model.partition("/")
    if not sep or not name:
        return None
    if provider == "openai":
        return "openai"
    if provider == "azure_ai" and _mai_model(name):
        return "mai"
    return None


def mai_url(api_base: str, api_version: str | None) -> str:
    """The MAI endpoint for ``api_base``, as litellm's ``get_mai_image_generation_url`` makes it."""
    path, separator, query = api_base.partition("?")
    path = path.rstrip("/")
    if "/mai/" in path:
        path = path.partition("/images/")[0] + "/images/generations"
    else:
        path += "/mai/v1/images/generations"
    return (
        f"{path}?{query}"
        if separator
        else f"{path}?api-version={api_version or MAI_DEFAULT_API_VERSION}"
    )


def _size_px(size: str) -> tuple[int, int]:
    width, _, height = size.lower().partition("x")
    try:
        return int(width), int(height)
    except ValueError:
        raise InvalidRequest(
            f"Invalid 'size': {size!r} is not WIDTHxHEIGHT.", param="size"
        ) from None


def build_request(call: UpstreamCall, shape: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(url, headers, JSON body) for one call in the given shape."""
    assert call.api_base is not None
    name = call.model.partition("/")[2]
    if shape == "openai":
        body: dict[str, Any] = {
            "model": name,
            "prompt": call.prompt,
            "n": call.n,
            "size": call.size,
        }
        if call.quality is not None:
            body["quality"] = call.quality
        body.update(call.extra)
        headers = {"authorization": f"Bearer {call.api_key}"} if call.api_key else {}
        return call.api_base.rstrip("/") + "/images/generations", headers, body
    width, height = _size_px(call.size)
    body = {"model": name, "prompt": call.prompt, "width": width, "height": height}
    headers = {"api-key": call.api_key} if call.api_key else {}
    return mai_url(call.api_base, call.api_version), headers, body


def _number(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def usage_tokens(usage: object) -> tuple[int | None, int | None]:
    """(text input tokens, image output tokens) from OpenAI or MAI usage; None when absent."""
    if not isinstance(usage, Mapping):
        return None, None
    details = usage.get("input_tokens_details")
    text = _number(usage.get("num_input_text_tokens"))
    if text is None and isinstance(details, Mapping):
        text = _number(details.get("text_tokens"))
    if text is None:
        text = _number(usage.get("input_tokens"))
    image = None
    for name in ("output_tokens", "num_output_tokens", "output_image_tokens"):
        image = _number(usage.get(name))
        if image is not None:
            break
    return text, image


_B64_KEY = b'"b64_json"'
_JSON_SPACE = b" \t\r\n"
_CHECK_CHUNK_BYTES = 1 << 16
# Below this a body is parsed whole: orjson's copy of a small image costs less CPU than
# checking its span (``is_base64``: ~0.33 ns/byte); above it, memory is what matters.
SPAN_MIN_BODY_BYTES = 1 << 20


def is_base64(payload: bytes | bytearray, start: int, end: int) -> bool:
    """Whether ``payload[start:end]`` is a non-empty run of the base64 alphabet, checked in
    small slices (``translate`` deletes the alphabet in C: ~0.33 ns/byte; a regex ~1.4)."""
    if end <= start:
        return False
    for offset in range(start, end, _CHECK_CHUNK_BYTES):
        chunk = payload[offset : min(offset + _CHECK_CHUNK_BYTES, end)]
        if chunk.translate(None, BASE64_ALPHABET):
            return False
    return True


def image_spans(payload: bytes | bytearray) -> list[tuple[int, int]] | None:
    """(start, end) of every ``"b64_json"`` member's string value, when each is plain base64.

    None when some value is not a non-empty run of the base64 alphabet (escapes, empty,
    not a string): the caller parses the whole body instead. A ``"b64_json"`` that is a
    value rather than a key is skipped; ``parse_result`` checks the spans against the
    parsed structure, so a key that only looks like ours cannot pass for an image.
    """
    spans: list[tuple[int, int]] = []
    size = len(payload)
    at = payload.find(_B64_KEY)
    while at != -1:
        i = at + len(_B64_KEY)
        while i < size and payload[i] in _JSON_SPACE:
            i += 1
        if i < size and payload[i] == 0x3A:  # ':'
            i += 1
            while i < size and payload[i] in _JSON_SPACE:
                i += 1
            if i >= size or payload[i] != 0x22:  # '"'
                return None
            start = i + 1
            end = payload.find(b'"', start)
            if end == -1 or not is_base64(payload, start, end):
                return None
            spans.append((start, end))
            i = end + 1
        at = payload.find(_B64_KEY, i)
    return spans


def _parse_without_images(
    payload: bytes | bytearray,
) -> tuple[dict[str, Any], EncodedImages] | None:
    """The body parsed with every image replaced by "", and the images as spans of ``payload``.

    None when the images cannot be taken as spans (see ``image_spans``) or the spans are not
    exactly one per item of ``data``: the caller then parses the whole body.
    """
    spans = image_spans(payload)
    if not spans:
        return None
    view = memoryview(payload)
    skeleton = bytearray()
    previous = 0
    for start, end in spans:
        skeleton += view[previous:start]
        previous = end
    skeleton += view[previous:]
    view.release()
    try:
        data = orjson.loads(skeleton)
    except orjson.JSONDecodeError:
        return None
    items = data.get("data") if isinstance(data, dict) else None
    if (
        not isinstance(items, list)
        or len(items) != len(spans)
        or not all(isinstance(item, dict) and item.get("b64_json") == "" for item in items)
    ):
        return None
    return data, EncodedImages(payload, spans)


def parse_result(payload: bytes | bytearray, tier: str, latency_ms: float) -> UpstreamResult:
    """The result of a 2xx body. Images stay in ``payload`` as spans (``EncodedImages``)
    when they are plain base64, which they are from OpenAI and MAI; else they are parsed."""
    images: Sequence[str]
    parsed = _parse_without_images(payload) if len(payload) >= SPAN_MIN_BODY_BYTES else None
    if parsed is not None:
        data, images = parsed
    else:
        data, images = _parse_whole(payload, tier)
    text_tokens, image_tokens = usage_tokens(data.get("usage"))
    created = _number(data.get("created"))
    return UpstreamResult(
        images_b64=images,
        created=created or int(time.time()),
        text_tokens=text_tokens,
        image_tokens=image_tokens,
        latency_ms=latency_ms,
    )


def _parse_whole(payload: bytes | bytearray, tier: str) -> tuple[dict[str, Any], list[str]]:
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        # No upstream_status: like a dropped connection, a garbled answer is worth one retry.
        raise _upstream_error(f"The {tier} tier returned a body that is not JSON.", None) from None
    if not isinstance(data, dict):
        raise _upstream_error(f"The {tier} tier returned a body that is not a JSON object.", None)
    images: list[str] = []
    for item in data.get("data") or ():
        b64 = item.get("b64_json") if isinstance(item, dict) else None
        if not b64 or not isinstance(b64, str):
            raise UpstreamError(f"The {tier} tier returned an image without b64_json data.")
        images.append(b64)
    if not images:
        raise UpstreamError(f"The {tier} tier returned no image.")
    return data, images


def _upstream_error(
    message: str, status: int | None, retry_after: float | None = None
) -> UpstreamError:
    error = UpstreamError(message)
    error.upstream_status = status  # type: ignore[attr-defined]
    if retry_after is not None:
        error.retry_after_seconds = retry_after  # type: ignore[attr-defined]
    return error


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def status_error(status: int, headers: Mapping[str, str], body: bytes, tier: str) -> GatewayError:
    """The gateway error for a non-2xx answer, without leaking the upstream's detail."""
    if status == 400 and b"content_policy_violation" in body:
        return InvalidRequest(
            "The image backend rejected the prompt under its content policy.",
            param="prompt",
            code="content_policy_violation",
        )
    return _upstream_error(
        f"The {tier} tier failed (HTTP {status}).", status, _retry_after(headers)
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
        content = orjson.dumps(body)
        started = time.perf_counter()
        if self._aiohttp is not None:
            status, response_headers, payload = await self._aiohttp.post(
                url, {**_JSON_HEADERS, **headers}, content, call.timeout_seconds, call.tier
            )
        else:
            status, response_headers, payload = await self._post_httpx(
                url, headers, content, call.timeout_seconds, call.tier
            )
        latency_ms = (time.perf_counter() - started) * 1000
        if status >= 300:
            raise status_error(status, response_headers, bytes(payload), call.tier)
        return parse_result(payload, call.tier, latency_ms)

    async def _post_httpx(
        self, url: str, headers: dict[str, str], content: bytes, timeout_seconds: float, tier: str
    ) -> tuple[int, Mapping[str, str], bytearray]:
        client = self._client
        request = client.build_request(
            "POST",
            url,
            content=content,
            headers={**_JSON_HEADERS, **headers},
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
            raise _upstream_error(f"The {tier} tier failed ({type(exc).__name__}).", None) from exc
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
    ) -> tuple[int, Mapping[str, str], bytearray]:
        try:
            async with self._get_session().post(
                url,
                data=content,
                headers=headers,
                allow_redirects=False,
                timeout=self._timeout(timeout_seconds),
            ) as response:
                # aiohttp decodes any content-encoding itself; Content-Length is then the
                # encoded size, so only a plain body is read into a buffer of that size.
                payload = await _read_body(
                    _declared_length(response.headers) if _plain(response.headers) else None,
                    response.content.iter_any(),
                )
                return response.status, response.headers, payload
        except TimeoutError as exc:  # aiohttp's connect and read timeouts subclass it
            raise UpstreamTimeout(f"The {tier} tier did not answer in time.") from exc
        except (self._aiohttp.ClientError, _BodyLengthError) as exc:  # connect errors, resets
            raise _upstream_error(f"The {tier} tier failed ({type(exc).__name__}).", None) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class _BodyLengthError(Exception):
    """The body did not match its Content-Length."""


def _plain(headers: Mapping[str, str]) -> bool:
    return headers.get("content-encoding") is None


def _declared_length(headers: Mapping[str, str]) -> int | None:
    declared = headers.get("content-length")
    return int(declared) if declared is not None and declared.isdigit() else None


async def _read_body(size: int | None, chunks: AsyncIterator[bytes]) -> bytearray:
    """The whole body in one buffer: sized from Content-Length when given, so a multi-MB image
    is held once rather than as a list of chunks plus their join."""
    if size is None:
        grown = bytearray()
        async for chunk in chunks:
            grown += chunk
        return grown
    buffer = bytearray(size)
    view = memoryview(buffer)
    filled = 0
    async for chunk in chunks:
        end = filled + len(chunk)
        if end > size:
            raise _BodyLengthError("body longer than its Content-Length")
        view[filled:end] = chunk
        filled = end
    view.release()
    if filled != size:
        raise _BodyLengthError("body shorter than its Content-Length")
    return buffer


class RoutingBackend:
    """The direct path for the tiers it covers, litellm (built only when needed) for the rest."""

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
            from gateway.upstream import LiteLLMBackend

            self.fallback = LiteLLMBackend()

    async def generate(self, call: UpstreamCall) -> UpstreamResult:
        if direct_shape(call.model, call.api_base) is not None:
            return await self.direct.generate(call)
        if self.fallback is None:
            from gateway.upstream import LiteLLMBackend

            self.fallback = LiteLLMBackend()
        return await self.fallback.generate(call)

    async def aclose(self) -> None:
        await self.direct.aclose()
