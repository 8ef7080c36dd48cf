"""A streamed image request whose tier streams: partial images as they arrive, then the
completed events, on one Server-Sent Events response.

The generation runs in its own task, so the response can start at the first partial image
while the tier is still working. Until then nothing is sent: an error before it (budget,
rate, a failed tier) is an ordinary JSON error with its status, and a tier that sends no
partials gives the completed events alone, with all the headers of a JSON answer. Once the
stream has started, a failure is an ``error`` event, and the cost travels as an SSE comment
(``: x-tiergate-cost-usd …``) before the completed events.

The task is not cancelled when the client leaves: it finishes, and its reservation settles
once at the actual cost, as for any disconnect.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import orjson
import structlog
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.api.models import ImageGenerationRequest
from gateway.api.rendering import SSE_MEDIA_TYPE, event_kind, image_event_fields
from gateway.api.responses import JSONPiecesResponse
from gateway.errors import GatewayError
from gateway.upstream.backend import OnPartial, PartialImage

log = structlog.get_logger("gateway.api.streaming")

Render = Callable[[OnPartial], Awaitable[JSONPiecesResponse]]

#: Generations whose client has gone but whose tier is still working: held so the task is
#: not collected before it settles.
_unfinished: set[asyncio.Task[Any]] = set()


def partial_event(partial: PartialImage, body: ImageGenerationRequest) -> bytes:
    kind = f"{event_kind(body)}.partial_image"
    payload = {
        "type": kind,
        "b64_json": partial.b64_json,
        "partial_image_index": partial.index,
        **image_event_fields(body),
    }
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def error_event(error: GatewayError) -> bytes:
    payload = {"type": "error", "error": error.to_body()["error"]}
    return b"event: error\ndata: " + orjson.dumps(payload) + b"\n\n"


async def next_partial(
    task: asyncio.Task[Any], queue: asyncio.Queue[PartialImage]
) -> PartialImage | None:
    """The next partial image, or None once the generation is done and none is left."""
    if not queue.empty():
        return queue.get_nowait()
    if task.done():
        return None
    getter = asyncio.ensure_future(queue.get())
    try:
        done, _ = await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        getter.cancel()
        raise
    if getter in done:
        return getter.result()
    getter.cancel()  # an item it had not yet taken stays in the queue
    return queue.get_nowait() if not queue.empty() else None


async def stream_images(
    request: Request, body: ImageGenerationRequest, render: Render, headers: Mapping[str, str]
) -> Response:
    """``render(on_partial)`` generates and answers with the completed events (a JSON
    pieces response in ``text/event-stream``); ``headers`` start a stream that has partials."""
    queue: asyncio.Queue[PartialImage] = asyncio.Queue()

    async def on_partial(partial: PartialImage) -> None:
        queue.put_nowait(partial)

    async def generate() -> tuple[JSONPiecesResponse, dict[str, Any]]:
        response = await render(on_partial)
        # The task's log fields (tier, cost) for the request's one log line.
        return response, structlog.contextvars.get_contextvars()

    task = asyncio.create_task(generate(), name="stream-generation")
    _unfinished.add(task)
    task.add_done_callback(_unfinished.discard)
    log_fields = request.scope["state"].setdefault("log_fields", {})
    first = await next_partial(task, queue)
    if first is None:  # no partial images: the answer is the completed events alone
        response, fields = await task
        log_fields.update(fields)
        return response

    async def events() -> AsyncIterator[bytes]:
        yield partial_event(first, body)
        while (partial := await next_partial(task, queue)) is not None:
            yield partial_event(partial, body)
        try:
            response, fields = await task
        except GatewayError as exc:
            log_fields.update(error_code=exc.code, stream_failed=True)
            yield error_event(exc)
            return
        except Exception:
            log.exception("stream_generation_failed")
            yield error_event(
                GatewayError("The gateway hit an internal error.", code="internal_error")
            )
            return
        log_fields.update(fields)
        comments = [
            f": {name} {value}\n".encode()
            for name, value in response.headers.items()
            if name.startswith("x-tiergate-") and name not in headers
        ]
        yield b"".join(comments) + b"\n"
        for piece in response.pieces:
            yield bytes(piece)

    return StreamingResponse(
        events(),
        media_type=SSE_MEDIA_TYPE,
        headers={**headers, "cache-control": "no-cache"},
    )
