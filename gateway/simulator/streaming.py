"""``stream: true`` on the OpenAI endpoints: partial images spread over the latency, then the
completed events, in OpenAI's event shapes (``image_generation.*``, ``image_edit.*``).

A partial image is the final one faded from grey (partial k of p is k+1 parts in p+1 of the
way there), so a client sees the image arrive; usage comes with the last completed event.
"""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import AsyncIterator
from typing import Any

import orjson
from PIL import Image
from starlette.responses import StreamingResponse

from gateway.simulator.schemas import OpenAIImagesResponse


def faded(b64_png: str, fraction: float) -> str:
    """The image ``fraction`` of the way from grey (a partial of it)."""
    image = Image.open(io.BytesIO(base64.b64decode(b64_png))).convert("RGBA")
    grey = Image.new("RGBA", image.size, (128, 128, 128, 255))
    buffer = io.BytesIO()
    Image.blend(grey, image, fraction).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _event(kind: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


async def image_events(
    body: OpenAIImagesResponse, kind: str, partial_images: int, delay_s: float
) -> AsyncIterator[bytes]:
    """``kind``: ``image_generation`` or ``image_edit``."""
    common = {
        "created_at": body.created,
        "size": body.size,
        "quality": body.quality,
        "background": body.background,
        "output_format": body.output_format,
    }
    steps = partial_images + 1
    first = body.data[0].b64_json or ""
    for index in range(partial_images):
        await asyncio.sleep(delay_s / steps)
        partial = {
            "type": f"{kind}.partial_image",
            "b64_json": faded(first, (index + 1) / steps),
            "partial_image_index": index,
            **common,
        }
        yield _event(f"{kind}.partial_image", partial)
    await asyncio.sleep(delay_s / steps)
    usage = body.usage.model_dump() if body.usage is not None else None
    for position, datum in enumerate(body.data):
        completed: dict[str, Any] = {
            "type": f"{kind}.completed",
            "b64_json": datum.b64_json,
            **common,
        }
        if position == len(body.data) - 1 and usage is not None:
            completed["usage"] = usage
        yield _event(f"{kind}.completed", completed)


def stream_response(
    body: OpenAIImagesResponse, kind: str, partial_images: int, delay_s: float
) -> StreamingResponse:
    return StreamingResponse(
        image_events(body, kind, partial_images, delay_s),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache"},
    )
