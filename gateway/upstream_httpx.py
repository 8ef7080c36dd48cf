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

import time
from collections.abc import Iterable, Mapping
from typing import Any

import httpx
import orjson

from gateway.errors import GatewayError, InvalidRequest, UpstreamError, UpstreamTimeout
from gateway.upstream import ImageBackend, UpstreamCall, UpstreamResult

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


def parse_result(payload: bytes | bytearray, tier: str, latency_ms: float) -> UpstreamResult:
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
    text_tokens, image_tokens = usage_tokens(data.get("usage"))
    created = _number(data.get("created"))
    return UpstreamResult(
        images_b64=images,
        created=created or int(time.time()),
        text_tokens=text_tokens,
        image_tokens=image_tokens,
        latency_ms=latency_ms,
    )


def _upstream_error(
    message: str, status: int | None, retry_after: float | None = None
) -> UpstreamError:
    error = UpstreamError(message)
    error.upstream_status = status  # type: ignore[attr-defined]
    if retry_after is not None:
        error.retry_after_seconds = retry_after  # type: ignore[attr-defined]
    return error


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def status_error(status: int, headers: httpx.Headers, body: bytes, tier: str) -> GatewayError:
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


_AIOHTTP_SETS = frozenset({b"host", b"accept-encoding", b"connection", b"content-length"})
"""Request headers aiohttp writes itself (accept-encoding: only what it can decode)."""


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport that sends through one pooled ``aiohttp.ClientSession``.

    httpx's own transport (httpcore over anyio and h11) costs ~0.9 ms of CPU per image call on
    the bench machine; aiohttp's C-accelerated HTTP/1.1 costs ~0.2 ms. The httpx API, timeouts
    and exception types stay the same for the caller: aiohttp's errors become httpx's.
    """

    def __init__(self, *, max_connections: int, keepalive_expiry_seconds: float) -> None:
        import aiohttp

        self._aiohttp = aiohttp
        self._connector_args = {
            "limit": max_connections,
            "keepalive_timeout": keepalive_expiry_seconds,
            "enable_cleanup_closed": False,
        }
        self._session: Any = None

    def _get_session(self) -> Any:
        if self._session is None or self._session.closed:
            aiohttp = self._aiohttp
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(**self._connector_args),
                auto_decompress=True,
                trust_env=False,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        aiohttp = self._aiohttp
        timeout = request.extensions.get("timeout", {})
        try:
            response = await self._get_session().request(
                request.method,
                str(request.url),
                headers={
                    k.decode("latin-1"): v.decode("latin-1")
                    for k, v in request.headers.raw
                    if k.lower() not in _AIOHTTP_SETS
                },
                data=request.content,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    sock_connect=timeout.get("connect"), sock_read=timeout.get("read")
                ),
            )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "connect timeout", request=request) from exc
        except aiohttp.ClientConnectionError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        # aiohttp has already decoded any content-encoding; httpx must not decode it again.
        encoded = response.headers.get("content-encoding") is not None
        return httpx.Response(
            response.status,
            headers=[
                (k, v)
                for k, v in response.raw_headers
                if not (encoded and k.lower() in (b"content-encoding", b"content-length"))
            ],
            stream=_AiohttpStream(response, request),
            request=request,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class _AiohttpStream(httpx.AsyncByteStream):
    def __init__(self, response: Any, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> Any:
        import aiohttp

        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "read timeout", request=self._request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=self._request) from exc

    async def aclose(self) -> None:
        self._response.release()


class HttpxImageBackend:
    """``ImageBackend`` for OpenAI- and MAI-shaped endpoints over one pooled ``httpx.AsyncClient``.

    ``transport="httpcore"`` (default) is httpx's own; ``"aiohttp"`` sends through
    :class:`AiohttpTransport`: ~0.35 ms less CPU per call (``bench/upstream_micro.py``), same
    behaviour in ``tests/upstream`` and ``tests/reliability``.
    """

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        transport: str = "httpcore",
        max_connections: int = 512,
        max_keepalive_connections: int = 128,
        keepalive_expiry_seconds: float = 4.0,
    ) -> None:
        # Keep-alive expiry under uvicorn's default 5 s server timeout, so an idle pooled
        # connection is dropped by us before the server closes it under a new request.
        pool_transport: httpx.AsyncBaseTransport | None = None
        if transport == "aiohttp":
            pool_transport = AiohttpTransport(
                max_connections=max_connections, keepalive_expiry_seconds=keepalive_expiry_seconds
            )
        self._client = client or httpx.AsyncClient(
            transport=pool_transport,
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_keepalive_connections,
                keepalive_expiry=keepalive_expiry_seconds,
            ),
            follow_redirects=False,
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def generate(self, call: UpstreamCall) -> UpstreamResult:
        shape = direct_shape(call.model, call.api_base)
        if shape is None:
            raise UpstreamError(f"The {call.tier} tier's model {call.model!r} has no direct path.")
        url, headers, body = build_request(call, shape)
        request = self._client.build_request(
            "POST",
            url,
            content=orjson.dumps(body),
            headers={**_JSON_HEADERS, **headers},
            timeout=httpx.Timeout(call.timeout_seconds),
        )
        started = time.perf_counter()
        try:
            response = await self._client.send(request, stream=True)
            try:
                payload = await _read_body(response)
            finally:
                await response.aclose()
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(f"The {call.tier} tier did not answer in time.") from exc
        except httpx.HTTPError as exc:  # connect errors, resets, protocol errors
            raise _upstream_error(
                f"The {call.tier} tier failed ({type(exc).__name__}).", None
            ) from exc
        latency_ms = (time.perf_counter() - started) * 1000
        if response.status_code >= 300:
            raise status_error(response.status_code, response.headers, bytes(payload), call.tier)
        return parse_result(payload, call.tier, latency_ms)


async def _read_body(response: httpx.Response) -> bytearray:
    """The whole body in one buffer: sized from Content-Length when given, so a multi-MB image
    is held once rather than as a list of chunks plus their join."""
    declared = response.headers.get("content-length")
    if (
        declared is not None
        and declared.isdigit()
        and response.headers.get("content-encoding") is None
    ):
        size = int(declared)
        buffer = bytearray(size)
        view = memoryview(buffer)
        filled = 0
        async for chunk in response.aiter_raw():
            end = filled + len(chunk)
            if end > size:
                raise httpx.RemoteProtocolError("body longer than its Content-Length")
            view[filled:end] = chunk
            filled = end
        view.release()
        if filled != size:
            raise httpx.RemoteProtocolError("body shorter than its Content-Length")
        return buffer
    grown = bytearray()
    async for chunk in response.aiter_bytes():
        grown += chunk
    return grown


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
