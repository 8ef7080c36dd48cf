"""The wire format of OpenAI- and MAI-shaped image endpoints: requests out, answers in (pure).

Builds the request each shape expects and reads a 2xx answer into an ``UpstreamResult``;
maps a non-2xx answer to the gateway's errors. Bodies of 1 MiB or more keep their images as
spans of the buffer they arrived in (``EncodedImages``) instead of parsed copies.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from gateway.errors import GatewayError, InvalidRequest, UpstreamError
from gateway.upstream.backend import EncodedImages, UpstreamCall, UpstreamResult

MAI_DEFAULT_API_VERSION = "preview"
JSON_HEADERS = {"content-type": "application/json", "accept": "application/json"}


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
# Below this a body is parsed whole (orjson's copy of a small image is cheap); above it,
# images are kept as spans of the body, so memory per request stays near one image.
SPAN_MIN_BODY_BYTES = 1 << 20


def is_plain_string(payload: bytes | bytearray, start: int, end: int) -> bool:
    """Whether ``payload[start:end]``, the content of a JSON string in an ASCII body, can be
    sent on as it is: non-empty and free of escapes, so it re-serialises byte for byte.

    ``image_spans`` checks the whole body is ASCII first. Both checks run at memory speed
    (``find`` is a memchr, ``isascii`` a word-at-a-time scan: ~0.1 ms for a 1.5 MB image,
    where checking each byte against the base64 alphabet took ~2 ms, most of a large
    request's CPU). The closing quote cannot occur inside (the span ends at the first one),
    so the span cannot end the string early or start an escape. What is not checked is the
    alphabet: a vendor that sent a raw control character inside its string sent invalid
    JSON, and the client gets the same bytes.
    """
    return end > start and payload.find(b"\\", start, end) == -1


def image_spans(payload: bytes | bytearray) -> list[tuple[int, int]] | None:
    """(start, end) of every ``"b64_json"`` member's string value, when each is plain.

    None when some value is not a plain string (``is_plain_string``: escapes, non-ASCII, empty,
    not a string): the caller parses the whole body instead. A ``"b64_json"`` that is a
    value rather than a key is skipped; ``parse_result`` checks the spans against the
    parsed structure, so a key that only looks like ours cannot pass for an image.
    """
    if not payload.isascii():  # non-ASCII text somewhere: parse it properly
        return None
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
            if end == -1 or not is_plain_string(payload, start, end):
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
        raise upstream_error(f"The {tier} tier returned a body that is not JSON.", None) from None
    if not isinstance(data, dict):
        raise upstream_error(f"The {tier} tier returned a body that is not a JSON object.", None)
    items = data.get("data")
    if items is not None and not isinstance(items, list):
        raise UpstreamError(f"The {tier} tier returned 'data' that is not a list.")
    images: list[str] = []
    for item in items or ():
        b64 = item.get("b64_json") if isinstance(item, dict) else None
        if not b64 or not isinstance(b64, str):
            raise UpstreamError(f"The {tier} tier returned an image without b64_json data.")
        images.append(b64)
    if not images:
        raise UpstreamError(f"The {tier} tier returned no image.")
    return data, images


def failure_name(exc: BaseException) -> str:
    """What failed, for a message: the exception's class, and for a socket error its errno's
    name (``ClientOSError ECONNRESET``), which tells a reset from a refused connect or an
    exhausted port range. Never the exception's text, which may quote the vendor."""
    code = getattr(exc, "errno", None)
    name = errno.errorcode.get(code) if isinstance(code, int) else None
    return f"{type(exc).__name__} {name}" if name else type(exc).__name__


def upstream_error(
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
    return upstream_error(f"The {tier} tier failed (HTTP {status}).", status, _retry_after(headers))
