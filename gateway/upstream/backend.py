"""The one boundary to the model tiers: the only module that imports litellm.

``ImageBackend`` is the small protocol the request path depends on; tests can
inject a fake the way httpx's ``MockTransport`` stands in for a network.
``LiteLLMBackend`` is production: ``litellm.aimage_generation`` for any provider
litellm speaks. litellm's exceptions are translated into ours here and nowhere else.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, overload

import orjson

from gateway.api.models import InputImage
from gateway.errors import GatewayError, InvalidRequest, UpstreamError, UpstreamTimeout

# The standard base64 alphabet: nothing in it needs escaping inside a JSON string.
BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


@dataclass(frozen=True, slots=True)
class PartialImage:
    """One partial image a streaming tier sent before its result (base64, as it came)."""

    tier: str
    b64_json: str
    index: int


OnPartial = Callable[[PartialImage], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class UpstreamCall:
    """One image call to one tier's backend: a generation, or an edit when ``images`` is set."""

    tier: str
    model: str
    prompt: str
    n: int
    size: str
    quality: str | None
    api_base: str | None
    api_key: str | None
    api_version: str | None
    timeout_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)
    images: tuple[InputImage, ...] = ()
    mask: InputImage | None = None
    #: Set when the request streams and the tier can: ask for this many partial images and
    #: hand each to ``on_partial`` as it arrives (the result is still the whole image).
    partial_images: int = 0
    on_partial: OnPartial | None = field(default=None, compare=False)

    @property
    def is_edit(self) -> bool:
        return bool(self.images)


class EncodedImages(Sequence[str]):
    """Base64 images kept as spans of the upstream body they arrived in, not as str copies.

    A 4 MiB image is 5.33 MiB of base64; holding it once (in the body buffer) rather than
    also as a parsed str and again in our re-serialised response is most of a large
    request's memory. ``pieces()`` gives the spans as ASCII bytes views for the response
    body; indexing decodes one image to ``str`` (a copy) for callers that want text.
    """

    __slots__ = ("_buffer", "_spans")

    def __init__(self, buffer: bytes | bytearray, spans: Sequence[tuple[int, int]]) -> None:
        self._buffer = buffer
        self._spans = tuple(spans)

    def __len__(self) -> int:
        return len(self._spans)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        start, end = self._spans[index]
        return self._buffer[start:end].decode("ascii")

    def pieces(self) -> list[memoryview]:
        view = memoryview(self._buffer)
        return [view[start:end] for start, end in self._spans]


def image_pieces(images: Sequence[str]) -> list[bytes | memoryview]:
    """Each base64 image as ASCII bytes: views into the upstream body when it kept them."""
    if isinstance(images, EncodedImages):
        return list(images.pieces())
    return [_json_string_content(image) for image in images]


def _json_string_content(text: str) -> bytes:
    """``text`` as the inside of a JSON string: as is when it is base64, else escaped."""
    if text.isascii():
        data = text.encode("ascii")
        if data and not data.translate(None, BASE64_ALPHABET):
            return data
    return orjson.dumps(text)[1:-1]


@dataclass(frozen=True, slots=True)
class UpstreamResult:
    """``images_b64``: a list of str, or ``EncodedImages`` (spans of the upstream body)."""

    images_b64: Sequence[str]
    created: int
    text_tokens: int | None
    image_tokens: int | None
    latency_ms: float


class ImageBackend(Protocol):
    async def generate(self, call: UpstreamCall) -> UpstreamResult: ...


class LiteLLMBackend:
    """Calls ``litellm.aimage_generation`` (``aimage_edit`` for an edit); imports litellm on
    construction, not on import."""

    def __init__(self) -> None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm

        litellm.suppress_debug_info = True
        litellm.telemetry = False
        litellm.drop_params = True
        self._litellm = litellm

    async def generate(self, call: UpstreamCall) -> UpstreamResult:
        kwargs: dict[str, Any] = {
            "model": call.model,
            "prompt": call.prompt,
            "n": call.n,
            "size": call.size,
            "api_base": call.api_base,
            "api_key": call.api_key,
            "timeout": call.timeout_seconds,
            "max_retries": 0,
            **call.extra,
        }
        if call.quality is not None:
            kwargs["quality"] = call.quality
        if call.api_version is not None:
            kwargs["api_version"] = call.api_version
        if call.is_edit:
            # Bytes: litellm names the parts and finds each one's type from its content.
            kwargs["image"] = [image.data for image in call.images]
            if call.mask is not None:
                kwargs["mask"] = call.mask.data
        started = time.perf_counter()
        try:
            if call.is_edit:
                response = await self._litellm.aimage_edit(**kwargs)
            else:
                response = await self._litellm.aimage_generation(**kwargs)
        except GatewayError:
            raise
        except Exception as exc:
            raise translate_exception(exc, call.tier) from exc
        latency_ms = (time.perf_counter() - started) * 1000
        return _to_result(response, latency_ms, call.tier)


def translate_exception(exc: Exception, tier: str) -> GatewayError:
    """Map a litellm/openai/httpx exception to the gateway's tree, hiding upstream detail."""
    from litellm import exceptions as lx

    status = getattr(exc, "status_code", None)
    if isinstance(exc, lx.Timeout) or type(exc).__name__ in {"TimeoutException", "ReadTimeout"}:
        return UpstreamTimeout(f"The {tier} tier did not answer in time.")
    if isinstance(exc, lx.ContentPolicyViolationError):
        return InvalidRequest(
            "The image backend rejected the prompt under its content policy.",
            param="prompt",
            code="content_policy_violation",
        )
    if isinstance(exc, lx.UnsupportedParamsError):
        return InvalidRequest(f"The {tier} tier does not support this request: {exc.message}")
    error = UpstreamError(f"The {tier} tier failed ({type(exc).__name__}).")
    error.upstream_status = status  # type: ignore[attr-defined]
    retry_after = _retry_after_seconds(exc)
    if retry_after is not None:
        error.retry_after_seconds = retry_after  # type: ignore[attr-defined]
    return error


def _retry_after_seconds(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _to_result(response: Any, latency_ms: float, tier: str) -> UpstreamResult:
    images: list[str] = []
    for item in response.data or []:
        b64 = getattr(item, "b64_json", None)
        if not b64:
            raise UpstreamError(f"The {tier} tier returned an image without b64_json data.")
        images.append(b64)
    if not images:
        raise UpstreamError(f"The {tier} tier returned no image.")
    usage = getattr(response, "usage", None)
    text_tokens = image_tokens = None
    if usage is not None:
        details = getattr(usage, "input_tokens_details", None)
        # An object from aimage_generation, a plain dict from aimage_edit.
        text_tokens = _as_int(
            details.get("text_tokens")
            if isinstance(details, dict)
            else getattr(details, "text_tokens", None)
        )
        if text_tokens is None:
            text_tokens = _as_int(getattr(usage, "input_tokens", None))
        image_tokens = _as_int(getattr(usage, "output_tokens", None))
    return UpstreamResult(
        images_b64=images,
        created=int(getattr(response, "created", None) or time.time()),
        text_tokens=text_tokens,
        image_tokens=image_tokens,
        latency_ms=latency_ms,
    )


def _as_int(value: object) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return int(value)
    return None
