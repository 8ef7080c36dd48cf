"""Starlette responses the simulator answers with: JSON models, errors, and the fault shapes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Final

import orjson
from pydantic import BaseModel
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from gateway.simulator.connection import drop_connection
from gateway.simulator.schemas import ErrorBody, error_body

MALFORMED_BODY: Final = b'{"created": 1700000000, "data": [{"b64_json": "iVBORw0KGgoAAAANSUhEUgAA'
"""A 200 body cut off mid-JSON, as from a proxy that lost its upstream."""

SLOW_BODY_CHUNKS: Final = 8

_ERROR_KIND_BY_STATUS: Final[Mapping[int, tuple[str, str | None]]] = {
    400: ("invalid_request_error", "invalid_value"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "permission_denied"),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    408: ("timeout", "timeout"),
    429: ("requests", "rate_limit_exceeded"),
}


def json_response(
    body: BaseModel,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    *,
    exclude_unset: bool = False,
) -> Response:
    """``body`` as JSON (orjson); with ``exclude_unset``, fields never set are left out."""
    return Response(
        orjson.dumps(body.model_dump(exclude_unset=exclude_unset)),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )


def error_response(
    body: ErrorBody, status_code: int, headers: Mapping[str, str] | None = None
) -> Response:
    return json_response(body, status_code, headers)


def status_error(status_code: int, message: str, retry_after_s: int | None = None) -> Response:
    """An OpenAI-shaped error for ``status_code``; 429s say when to retry."""
    default_kind = ("server_error", None) if status_code >= 500 else ("invalid_request_error", None)
    type_, code = _ERROR_KIND_BY_STATUS.get(status_code, default_kind)
    headers: dict[str, str] = {}
    if status_code == 429 and retry_after_s is not None:
        headers = {"retry-after": str(retry_after_s), "retry-after-ms": str(retry_after_s * 1000)}
    return error_response(error_body(message, type_, None, code), status_code, headers)


def malformed_response() -> Response:
    return Response(MALFORMED_BODY, status_code=200, media_type="application/json")


def wrong_shape_response() -> Response:
    """Valid JSON, but not an images response: ``data`` is a number."""
    return Response(b'{"created": 0, "data": 5}', status_code=200, media_type="application/json")


def slow_response(body: Response, total_s: float) -> Response:
    """The same status, headers and bytes, sent in chunks spread over ``total_s`` seconds."""
    content = bytes(body.body)
    chunk_len = max(1, -(-len(content) // SLOW_BODY_CHUNKS))
    pause_s = total_s / SLOW_BODY_CHUNKS

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(content), chunk_len):
            if start and pause_s > 0:
                await asyncio.sleep(pause_s)
            yield content[start : start + chunk_len]

    slow = StreamingResponse(chunks(), status_code=body.status_code)
    slow.raw_headers = list(body.raw_headers)  # keeps content-length: no chunked encoding
    return slow


class DroppedConnection(Response):
    """Answers nothing: the connection is aborted instead (see ``drop_connection``)."""

    def __init__(self) -> None:
        super().__init__(status_code=500)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await drop_connection(scope, receive)


class NoResponse(Response):
    """For a client that already went away: there is no one to answer."""

    def __init__(self) -> None:
        super().__init__(status_code=499)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        return None
