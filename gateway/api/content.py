"""``GET /v1/images/content/{id}``: an image answered as a URL, fetched without an API key.

The link's signature is the credential (gateway/blobs/links.py): a tampered or expired link
is a 403, an image past its retention a 404.
"""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.api.models import ErrorResponse
from gateway.api.state import get_state
from gateway.blobs.links import BlobNotFound, LinkRefused
from gateway.errors import NotFound, PermissionDenied

log = structlog.get_logger("gateway.api.content")
router = APIRouter()


@router.get(
    "/v1/images/content/{image_id}",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}},
        403: {"model": ErrorResponse},
        404: {"model": ErrorResponse},
    },
)
async def image_content(image_id: str, request: Request) -> Response:
    links = get_state(request).links
    if links is None:
        raise NotFound("This gateway does not serve image URLs.")
    query = request.query_params
    try:
        seconds_left = links.check(image_id, query.get("expires"), query.get("sig"))
    except LinkRefused as refused:
        structlog.contextvars.bind_contextvars(link_refused=str(refused))
        raise PermissionDenied(
            "This image link is invalid or has expired; request the image again for a new link.",
            code="invalid_image_link",
        ) from None
    try:
        data = await links.open(image_id)
    except BlobNotFound:
        raise NotFound("This image is no longer stored.", code="image_not_found") from None
    return Response(
        data,
        media_type=links.media_type(image_id),
        headers={"cache-control": f"private, max-age={seconds_left}, immutable"},
    )
