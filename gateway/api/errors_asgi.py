"""Sending a ``GatewayError`` from pure ASGI code, where no exception handler is reached."""

from __future__ import annotations

import orjson
import structlog
from starlette.types import Send

from gateway.errors import GatewayError


async def send_error(send: Send, error: GatewayError) -> None:
    """The error's OpenAI-shaped body, status and headers, and its code on the log line."""
    structlog.contextvars.bind_contextvars(error_code=error.code, error_type=error.error_type)
    body = orjson.dumps(error.to_body())
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.encode("latin-1"), v.encode("latin-1")) for k, v in error.headers.items()),
    ]
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
