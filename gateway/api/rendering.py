"""An outcome as the client asked for it: JSON with base64 images, JSON with URLs, or a
Server-Sent Events stream in OpenAI's image event shapes."""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping

import orjson
from starlette.requests import Request

from gateway.api.models import ImageEditRequest, ImageGenerationRequest
from gateway.api.responses import JSONPiecesResponse
from gateway.blobs.links import ImageLinks
from gateway.errors import BlobStoreUnavailable
from gateway.pipeline.outcome import Outcome
from gateway.upstream.backend import image_pieces

SSE_MEDIA_TYPE = "text/event-stream"


def base_url(request: Request, configured: str | None) -> str:
    """Where image URLs point: the configured public base, else this request's own origin."""
    if configured:
        return configured.rstrip("/")
    return str(request.base_url).rstrip("/")


async def url_response(
    outcome: Outcome,
    body: ImageGenerationRequest,
    links: ImageLinks,
    base: str,
    headers: Mapping[str, str],
) -> JSONPiecesResponse:
    """The images stored behind signed URLs; the response names only the URLs."""
    data = []
    try:
        for encoded in outcome.result.images_b64:
            stored = await links.store(base64.b64decode(encoded), body.output_format or "png")
            data.append({"url": links.url(base, stored)})
    except Exception as exc:  # the image is made and charged; only its storage failed
        raise BlobStoreUnavailable(
            "The image was generated but could not be stored for a URL; ask for "
            "response_format 'b64_json' or try again."
        ) from exc
    document = {"created": outcome.result.created, "data": data, "usage": outcome.usage()}
    return JSONPiecesResponse([orjson.dumps(document)], headers=headers)


def event_kind(body: ImageGenerationRequest) -> str:
    """The prefix of a request's stream events: ``image_edit`` or ``image_generation``."""
    return "image_edit" if isinstance(body, ImageEditRequest) else "image_generation"


def image_event_fields(body: ImageGenerationRequest) -> dict[str, object]:
    """What every image event repeats of the request, as OpenAI's events carry it."""
    return {
        "size": body.resolved_size,
        "quality": body.resolved_quality.value,
        "background": body.background or "opaque",
        "output_format": body.output_format or "png",
    }


def sse_response(
    outcome: Outcome, body: ImageGenerationRequest, headers: Mapping[str, str]
) -> JSONPiecesResponse:
    """The images as ``image_generation.completed`` events (``image_edit.completed`` for an
    edit), one per image, the last with the usage: the whole stream when the tier sent no
    partial images, the end of it when it did (gateway/api/streaming.py)."""
    event = f"{event_kind(body)}.completed"
    common = {
        "created_at": outcome.result.created or int(time.time()),
        **image_event_fields(body),
    }
    pieces: list[bytes | memoryview] = []
    images = image_pieces(outcome.result.images_b64)
    for index, image in enumerate(images):
        tail = dict(common)
        if index == len(images) - 1:
            tail["usage"] = outcome.usage()
        pieces += (
            f'event: {event}\ndata: {{"type":"{event}","b64_json":"'.encode(),
            image,
            b'",' + orjson.dumps(tail)[1:] + b"\n\n",
        )
    return JSONPiecesResponse(
        pieces,
        headers={**headers, "cache-control": "no-cache"},
        media_type=SSE_MEDIA_TYPE,
    )
