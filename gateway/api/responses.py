"""JSON responses rendered with orjson (FastAPI's own JSONBytesResponse is deprecated), and
a JSON body sent as the byte pieces it is made of."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

# A body up to this size goes in one message; a larger one in messages of at most this size,
# so the server's write buffer (it waits for a drain between messages) never holds a copy of
# a multi-MiB image as well as the upstream body the pieces point into.
SEND_CHUNK_BYTES = 1 << 20


class JSONBytesResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class JSONPiecesResponse(Response):
    """A JSON (or other ``media_type``) body given as pieces (bytes, or views into the
    buffers they came in), sent
    without joining them; ``joined()`` builds the whole body when someone needs it stored."""

    media_type = "application/json"

    def __init__(
        self,
        pieces: Sequence[bytes | memoryview],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str = "application/json",
    ) -> None:
        self.status_code = status_code
        self.background = None
        self.pieces = pieces
        length = sum(len(piece) for piece in pieces)
        raw = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()
        ]
        raw.append((b"content-length", str(length).encode("latin-1")))
        raw.append((b"content-type", media_type.encode("latin-1")))
        self.media_type = media_type
        self.raw_headers = raw
        self.length = length

    def joined(self) -> bytes:
        return b"".join(self.pieces)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        if self.length <= SEND_CHUNK_BYTES:
            await send({"type": "http.response.body", "body": self.joined()})
            return
        for piece in self.pieces:
            for offset in range(0, len(piece), SEND_CHUNK_BYTES):
                chunk = piece[offset : offset + SEND_CHUNK_BYTES]
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
