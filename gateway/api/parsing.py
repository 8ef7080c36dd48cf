"""Turn raw request bytes into a validated model, with OpenAI-style errors naming the field."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.types import Message

from gateway.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType

Model = TypeVar("Model", bound=BaseModel)


def cap_receive(request: Request, limit: int, too_large: Callable[[], Exception]) -> None:
    """Make ``request`` raise ``too_large()`` once more than ``limit`` body bytes have
    arrived, so a chunked upload with no Content-Length cannot fill memory or disk."""
    receive = request._receive
    seen = 0

    async def counting() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise too_large()
        return message

    request._receive = counting


#: zlib ``wbits`` per Content-Encoding: gzip's header, or deflate's zlib wrapper (RFC 9110).
_DECOMPRESSORS = {
    "gzip": 16 + zlib.MAX_WBITS,
    "x-gzip": 16 + zlib.MAX_WBITS,
    "deflate": zlib.MAX_WBITS,
}


def decode_body(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The body with its Content-Encoding undone: gzip or deflate, or none (415 otherwise).

    The decompressed body is held to the same ``limit`` as a plain one (413), and never more
    than ``limit + 1`` bytes are inflated, so a small bomb cannot take memory.
    """
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return body
    wbits = _DECOMPRESSORS.get(encoding)
    if wbits is None:
        raise UnsupportedMediaType(
            f"Unsupported Content-Encoding '{encoding[:64]}'; send gzip, deflate or none.",
            param="content-encoding",
        )
    inflater = zlib.decompressobj(wbits)
    try:
        plain = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise InvalidRequest(
            f"The request body is not valid {encoding} data.", code="invalid_encoding"
        ) from None
    if len(plain) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"The decompressed request body is larger than {limit} bytes.")
    if not inflater.eof:
        raise InvalidRequest(f"The {encoding} request body is truncated.", code="invalid_encoding")
    return plain


def parse_json_body(body: bytes, content_type: str | None, model: type[Model]) -> Model:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        raise InvalidRequest(
            f"Unsupported Content-Type '{media_type[:64]}'; send application/json.",
            code="unsupported_content_type",
        )
    if not body:
        raise InvalidRequest("The request body is empty; send a JSON object.", code="invalid_json")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidRequest(
            "The request body is not valid JSON (or not UTF-8).", code="invalid_json"
        ) from None
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.", code="invalid_json")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


def validation_error(exc: ValidationError) -> InvalidRequest:
    first = exc.errors(include_url=False)[0]
    param = ".".join(str(part) for part in first["loc"]) or None
    kind = first["type"]
    if kind == "extra_forbidden":
        return InvalidRequest(
            f"Unrecognized request argument supplied: {param}",
            param=param,
            code="unknown_parameter",
        )
    if kind == "missing":
        return InvalidRequest(
            f"Missing required parameter: '{param}'.",
            param=param,
            code="missing_required_parameter",
        )
    message = str(first["msg"]).removeprefix("Value error, ")
    return InvalidRequest(f"Invalid '{param}': {message}.", param=param, code="invalid_value")
