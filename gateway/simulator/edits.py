"""``POST /v1/images/edits``: an image derived from the uploaded one, as OpenAI's edits answer.

The first input image is scaled to the placeholder size; where a mask is given, its fully
transparent pixels (the area OpenAI edits) are painted in the prompt's colour, elsewhere the
image is tinted by it. Usage counts the input images' tokens by the same rule the gateway
prices them with (``gateway.tokens.input_image_tokens``).
"""

from __future__ import annotations

import base64
import io
from typing import Any

from PIL import Image, UnidentifiedImageError
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from gateway.simulator.png import image_seed, pixel_size_for
from gateway.simulator.responses import error_response
from gateway.simulator.schemas import OpenAIImageRequest, error_body
from gateway.tokens import input_image_tokens

MAX_FILES = 17  # 16 images and a mask, as OpenAI's limits


class EditRequest(OpenAIImageRequest):
    """The form fields of an edit, and the decoded images (kept out of the schema)."""

    input_tokens_images: int = 0


def _bad(message: str, param: str | None = None) -> Response:
    return error_response(error_body(message, "invalid_request_error", param), 400)


ParsedEdit = tuple[EditRequest, list[Image.Image], Image.Image | None]


async def parse_edit(request: Request) -> ParsedEdit | Response:
    """The edit's fields and images, or the 400 to answer with."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return _bad("Send the edit as multipart/form-data.")
    async with request.form(max_files=MAX_FILES, max_fields=32) as form:
        fields: dict[str, Any] = {}
        uploads: list[UploadFile] = []
        mask_upload: UploadFile | None = None
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                if name in ("image", "image[]"):
                    uploads.append(value)
                elif name == "mask":
                    mask_upload = value
            elif name == "n":
                fields["n"] = int(value) if value.isdigit() else value
            else:
                fields[name] = value
        if not uploads:
            return _bad("Missing required parameter: 'image'.", "image")
        try:
            parsed = EditRequest.model_validate(fields)
        except ValueError as exc:
            return _bad(f"Invalid edit request: {exc}")
        images = []
        try:
            for upload in uploads:
                images.append(Image.open(io.BytesIO(await upload.read())).convert("RGBA"))
            mask = (
                Image.open(io.BytesIO(await mask_upload.read())).convert("RGBA")
                if mask_upload is not None
                else None
            )
        except (UnidentifiedImageError, OSError):
            return _bad("Invalid image file: not a PNG, JPEG or WebP image.", "image")
    tokens = sum(input_image_tokens(*image.size) for image in images)
    return parsed.model_copy(update={"input_tokens_images": tokens}), images, mask


def edited_b64(
    prompt: str, index: int, source: Image.Image, mask: Image.Image | None, width: int, height: int
) -> str:
    """The base64 PNG of image ``index``: ``source`` edited in the prompt's colour."""
    seed = image_seed(prompt, index)
    colour = (seed[0], seed[1], seed[2], 255)
    size = pixel_size_for(width, height)
    base = source.resize(size)
    paint = Image.new("RGBA", size, colour)
    if mask is not None:
        # OpenAI edits where the mask is fully transparent and keeps the rest.
        alpha = mask.resize(size).getchannel("A").point(lambda a: 255 if a == 0 else 0)
        edited = Image.composite(paint, base, alpha)
    else:
        edited = Image.blend(base, paint, 0.35)
    buffer = io.BytesIO()
    edited.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
