"""uvicorn's httptools protocol, guarded against slow, endless and malformed request heads.

``GuardedHttpToolsProtocol``:

* closes a connection whose request headers are not complete ``HEADER_TIMEOUT_SECONDS``
  after it opened or after its previous response (slowloris; uvicorn times out only idle
  keep-alive connections). The body has its own deadline in the route;
* counts the bytes of a request head as they arrive and answers 431 ``headers_too_large``
  once an unfinished head passes ``MAX_HEAD_BYTES``, so one endless header line cannot make
  the worker buffer it until the deadline (the 16 KiB header cap of the middleware only
  applies to complete heads);
* answers what the parser refuses (NUL or bare CR in a header, obs-fold, Content-Length with
  Transfer-Encoding, bad lengths) in the OpenAI error shape, code ``malformed_http``,
  instead of uvicorn's plain text.
"""

from __future__ import annotations

import asyncio

import orjson
import structlog
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.api.middleware import MAX_HEADER_BYTES
from gateway.errors import GatewayError, HeadersTooLarge, InvalidRequest

HEADER_TIMEOUT_SECONDS = 10.0
#: The middleware's cap on header bytes, plus room for the request line and the framing.
MAX_HEAD_BYTES = MAX_HEADER_BYTES + 8 * 1024
_REASONS = {400: b"Bad Request", 431: b"Request Header Fields Too Large"}
log = structlog.get_logger("gateway.server")


def error_response(error: GatewayError) -> bytes:
    """A complete HTTP/1.1 response carrying ``error`` in the OpenAI shape; closes the
    connection (the parser's state is unknown after it)."""
    body = orjson.dumps(error.to_body())
    reason = _REASONS.get(error.status_code, b"Error")
    head = (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
        b"connection: close\r\n\r\n" % (error.status_code, reason, len(body))
    )
    return head + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    _header_timer: asyncio.TimerHandle | None = None
    _in_head = True  # between a message's end (or the connection's start) and its headers
    _head_bytes = 0

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
            self._refuse(HeadersTooLarge(f"Request headers exceed {MAX_HEADER_BYTES} bytes."))

    def send_400_response(self, msg: str) -> None:
        self._refuse(
            InvalidRequest(
                "The request is not valid HTTP/1.1 (the parser refused it).",
                code="malformed_http",
            )
        )

    def _refuse(self, error: GatewayError) -> None:
        # No ASGI request exists yet, so the middleware's request line never happens: say here
        # what was refused and to whom (never the bytes themselves).
        log.warning(
            "http_refused",
            status=error.status_code,
            error_code=error.code,
            client=self.client[0] if self.client else None,
        )
        self._disarm_header_timer()
        self.transport.write(error_response(error))
        self.transport.close()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        self._header_timer = self.loop.call_later(HEADER_TIMEOUT_SECONDS, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._disarm_header_timer()
        self._in_head = False
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)
