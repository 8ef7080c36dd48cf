"""``POST /v1/images/edits``: a multipart edit, checked here and then served like a generation.

The prompt alone decides the tier (an input image with text in it is no reason by itself);
the input images are priced from their dimensions. Refused with a 400 naming the field: no
image, more than ``MAX_IMAGES`` images, a file that is not PNG, JPEG or WebP, a file over
``edit_max_image_bytes``, a mask that is not a PNG or whose size differs from the first
image's. A body larger than all of that together is a 413 before it is read.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

from fastapi import APIRouter, Request
from PIL import Image, UnidentifiedImageError
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.responses import Response

from gateway.api.images import IMAGE_RESPONSES, authenticate, serve_images
from gateway.api.models import ImageEditRequest, ImagesResponse, InputImage
from gateway.api.parsing import cap_receive, validation_error
from gateway.api.state import AppState, get_state
from gateway.auth import Principal
from gateway.errors import InvalidRequest, PayloadTooLarge
from gateway.pipeline.serving import Serving
from gateway.policy.live import Active

router = APIRouter()

#: As OpenAI's edits endpoint: up to 16 input images.
MAX_IMAGES = 16
#: What the form may add to its files (boundaries, part headers, the other fields).
ENVELOPE_BYTES = 256 * 1024
IMAGE_FIELDS = ("image", "image[]")
INT_FIELDS = ("n", "partial_images", "output_compression")
BOOL_FIELDS = ("stream",)
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpeg"),
)

EDIT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image", "prompt"],
                    "properties": {
                        "image": {
                            "description": f"1 to {MAX_IMAGES} PNG, JPEG or WebP files.",
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                        },
                        "mask": {
                            "description": "A PNG the size of the first image; its fully "
                            "transparent pixels are where the image is edited.",
                            "type": "string",
                            "format": "binary",
                        },
                        "prompt": {"type": "string"},
                        "model": {"type": "string", "default": "auto"},
                        "n": {"type": "integer"},
                        "size": {"type": "string"},
                        "quality": {"type": "string"},
                        "response_format": {"type": "string", "enum": ["b64_json", "url"]},
                        "background": {"type": "string"},
                        "output_format": {"type": "string"},
                        "user": {"type": "string"},
                        "stream": {"type": "boolean"},
                        "partial_images": {"type": "integer"},
                    },
                }
            }
        },
    }
}


def media_type_of(data: bytes) -> str | None:
    for signature, media_type, _ in _SIGNATURES:
        if data.startswith(signature):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def measure(data: bytes, param: str) -> tuple[int, int]:
    """(width, height) from the image's header (Pillow reads no pixels for this)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError, ValueError):
        raise InvalidRequest(
            f"Invalid '{param}': the file is not a readable PNG, JPEG or WebP image.",
            param=param,
            code="invalid_image_file",
        ) from None


async def read_image(upload: UploadFile, param: str, limit: int) -> InputImage:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise InvalidRequest(
            f"Invalid '{param}': the file is larger than {limit} bytes, this gateway's limit "
            "for edit images.",
            param=param,
            code="image_too_large",
        )
    media_type = media_type_of(data)
    if media_type is None:
        raise InvalidRequest(
            f"Invalid '{param}': unsupported file format; send a PNG, JPEG or WebP image.",
            param=param,
            code="invalid_image_format",
        )
    width, height = measure(data, param)
    return InputImage(data, media_type, (upload.filename or "image")[:255], width, height)


def form_value(name: str, value: str) -> object:
    """A form field as the JSON value it stands for (numbers and booleans arrive as text)."""
    if name in INT_FIELDS and value.strip().lstrip("-").isdigit():
        return int(value)
    if name in BOOL_FIELDS and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


async def parse_edit(request: Request, state: AppState) -> tuple[ImageEditRequest, bytes]:
    """The validated edit and a fingerprint of it (for Idempotency-Key)."""
    image_limit = state.settings.edit_max_image_bytes
    body_limit = image_limit * (MAX_IMAGES + 1) + ENVELOPE_BYTES
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > body_limit:
        raise PayloadTooLarge(f"The edit request is larger than {body_limit} bytes.")
    content_type = request.headers.get("content-type", "")
    # A form with no file at all arrives urlencoded: it is then the missing image below.
    if not content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise InvalidRequest(
            "Send an edit as multipart/form-data with 'image' and 'prompt' fields.",
            code="unsupported_content_type",
        )
    cap_receive(
        request,
        body_limit,
        lambda: PayloadTooLarge(f"The edit request is larger than {body_limit} bytes."),
    )
    fields: dict[str, object] = {}
    images: list[InputImage] = []
    mask: InputImage | None = None
    fingerprint = hashlib.sha256()
    async with request.form(max_files=MAX_IMAGES + 2, max_fields=32) as form:
        uploads = [(k, v) for k, v in form.multi_items() if isinstance(v, UploadFile)]
        if sum(1 for name, _ in uploads if name in IMAGE_FIELDS) > MAX_IMAGES:
            raise InvalidRequest(
                f"Invalid 'image': an edit takes at most {MAX_IMAGES} images.",
                param="image",
                code="too_many_images",
            )
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                if name in IMAGE_FIELDS:
                    images.append(await read_image(value, "image", image_limit))
                elif name == "mask" and mask is None:
                    mask = await read_image(value, "mask", image_limit)
                else:
                    raise InvalidRequest(
                        f"Unrecognized file field supplied: {name[:64]}",
                        param=name[:64],
                        code="unknown_parameter",
                    )
                continue
            if name in fields:
                raise InvalidRequest(f"Field '{name[:64]}' is given twice.", param=name[:64])
            fields[name] = form_value(name, value)
    if not images:
        raise InvalidRequest(
            "Missing required parameter: 'image'.",
            param="image",
            code="missing_required_parameter",
        )
    if mask is not None:
        if mask.media_type != "image/png":
            raise InvalidRequest(
                "Invalid 'mask': the mask must be a PNG with an alpha channel.",
                param="mask",
                code="invalid_image_format",
            )
        first = images[0]
        if (mask.width, mask.height) != (first.width, first.height):
            raise InvalidRequest(
                f"Invalid 'mask': it is {mask.width}x{mask.height}, the image is "
                f"{first.width}x{first.height}; they must be the same size.",
                param="mask",
                code="mask_size_mismatch",
            )
    try:
        edit = ImageEditRequest.model_validate({**fields, "images": tuple(images), "mask": mask})
    except ValidationError as exc:
        raise validation_error(exc) from None
    for name in sorted(fields):
        fingerprint.update(f"{name}={fields[name]!r}\n".encode())
    for image in (*images, *([mask] if mask else [])):
        fingerprint.update(hashlib.sha256(image.data).digest())
    return edit, fingerprint.hexdigest().encode()


async def edit_images(
    request: Request, active: Active[Serving], principal: Principal, model: str | None = None
) -> Response:
    """An edit under ``active`` (the policy taken at the request's start) for ``principal``;
    ``model`` replaces the body's (an Azure deployment's target)."""
    state = get_state(request)
    edit, fingerprint = await parse_edit(request, state)
    if model is not None:
        edit = edit.model_copy(update={"model": model})
    return await serve_images(request, state, active, principal, fingerprint, edit)


@router.post(
    "/v1/images/edits",
    response_model=ImagesResponse,
    responses=IMAGE_RESPONSES,
    openapi_extra=EDIT_BODY,
)
async def create_edit(request: Request) -> Response:
    active = get_state(request).serving()
    return await edit_images(request, active, authenticate(active, request))
