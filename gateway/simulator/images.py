"""The image endpoints: OpenAI ``/v1/images/generations`` and ``/v1/images/edits``, and MAI
``/mai/v1/...``.

Each request reads: authorize -> parse -> fault -> latency -> image and usage. Faults apply
only to valid requests (a 400 consumes no fault); errors, malformed bodies and drops answer
at once, a hang takes the place of the simulated latency, and a slow body comes after it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from gateway.simulator.config import SimulatorConfig
from gateway.simulator.connection import wait_unless_disconnected
from gateway.simulator.edits import EditRequest, ParsedEdit, edited_b64, parse_edit
from gateway.simulator.faults import FaultController, FaultKind
from gateway.simulator.latency import sample_latency_s
from gateway.simulator.png import ImageCache
from gateway.simulator.responses import (
    DroppedConnection,
    NoResponse,
    error_response,
    json_response,
    malformed_response,
    slow_response,
    status_error,
    wrong_shape_response,
)
from gateway.simulator.schemas import (
    ImageDatum,
    InputTokensDetails,
    MAIImageRequest,
    MAIImagesResponse,
    MAIImageUsage,
    OpenAIImageRequest,
    OpenAIImagesResponse,
    OpenAIImageUsage,
    error_body,
    invalid_request,
)
from gateway.simulator.stats import RequestStats
from gateway.simulator.streaming import stream_response
from gateway.simulator.tokens import image_tokens, normalize_quality, parse_size, text_tokens

OPENAI_PATH: Final = "/v1/images/generations"
OPENAI_EDITS_PATH: Final = "/v1/images/edits"
MAI_PATH: Final = "/mai/v1/images/generations"

_RequestT = TypeVar("_RequestT", OpenAIImageRequest, MAIImageRequest)
_Parsed = TypeVar("_Parsed", OpenAIImageRequest, MAIImageRequest, ParsedEdit)


class ImageEndpoints:
    """Handlers sharing one simulator's faults, counters, image cache and latency draws."""

    def __init__(
        self,
        config: SimulatorConfig,
        faults: FaultController,
        stats: RequestStats,
        images: ImageCache,
    ) -> None:
        self._config = config
        self._faults = faults
        self._stats = stats
        self._images = images
        self._latency_rng = random.Random(config.latency_seed)

    async def openai_generations(self, request: Request) -> Response:
        return await self._serve(
            request, OPENAI_PATH, lambda r: _parse(r, OpenAIImageRequest), self._openai_body
        )

    async def mai_generations(self, request: Request) -> Response:
        return await self._serve(
            request, MAI_PATH, lambda r: _parse(r, MAIImageRequest), self._mai_body
        )

    async def openai_edits(self, request: Request) -> Response:
        return await self._serve(request, OPENAI_EDITS_PATH, parse_edit, self._edit_body)

    async def _serve(
        self,
        request: Request,
        endpoint: str,
        parse: Callable[[Request], Awaitable[_Parsed | Response]],
        build: Callable[[_Parsed], tuple[BaseModel, int]],
    ) -> Response:
        self._stats.request_started(endpoint)
        try:
            return await self._answer(request, parse, build)
        finally:
            self._stats.request_finished()

    async def _answer(
        self,
        request: Request,
        parse: Callable[[Request], Awaitable[_Parsed | Response]],
        build: Callable[[_Parsed], tuple[BaseModel, int]],
    ) -> Response:
        if not self._authorized(request):
            self._stats.record_outcome("unauthorized")
            return status_error(401, "Incorrect API key provided.")
        parsed = await parse(request)
        if isinstance(parsed, Response):
            self._stats.record_outcome("invalid_request")
            return parsed

        fault = self._faults.next_fault()
        fields = parsed[0] if isinstance(parsed, tuple) else parsed
        self._stats.record_outcome(fault.value, fields.model)
        early = await self._early_answer(fault, request)
        if early is not None:
            return early
        delay_s = 0.0
        if fault is not FaultKind.HANG:
            delay_s = sample_latency_s(
                self._config.profile, self._config.latency_scale, self._latency_rng
            )
            if isinstance(fields, OpenAIImageRequest) and fields.stream:
                # The latency is spread over the partial images, sent as they "render".
                body, image_count = build(parsed)
                self._stats.record_images(image_count)
                assert isinstance(body, OpenAIImagesResponse)
                kind = "image_edit" if isinstance(fields, EditRequest) else "image_generation"
                return stream_response(body, kind, fields.partial_images, delay_s)
            if delay_s > 0 and await wait_unless_disconnected(request.receive, delay_s):
                return NoResponse()

        body, image_count = build(parsed)
        self._stats.record_images(image_count)
        # As OpenAI's API does: how long the model took, for clients that measure overhead.
        processing = {"openai-processing-ms": str(round(delay_s * 1000))}
        response = json_response(body, exclude_unset=True, headers=processing)
        if fault is FaultKind.SLOW_BODY:
            return slow_response(response, self._faults.settings.slow_body_s)
        return response

    async def _early_answer(self, fault: FaultKind, request: Request) -> Response | None:
        """The response a fault gives instead of an image, or None to go on."""
        settings = self._faults.settings
        match fault:
            case FaultKind.FAIL_NEXT:
                return status_error(
                    settings.fail_next_status,
                    f"Simulated failure (fail_next, status {settings.fail_next_status}).",
                    settings.retry_after_s,
                )
            case FaultKind.ERROR:
                return status_error(
                    500, "The server had an error while processing your request. Sorry about that!"
                )
            case FaultKind.RATE_LIMIT:
                return status_error(
                    429,
                    f"Rate limit reached. Please try again in {settings.retry_after_s}s.",
                    settings.retry_after_s,
                )
            case FaultKind.MALFORMED:
                return malformed_response()
            case FaultKind.WRONG_SHAPE:
                return wrong_shape_response()
            case FaultKind.RESET:
                return DroppedConnection()
            case FaultKind.HANG:
                if await wait_unless_disconnected(request.receive, settings.hang_s):
                    return NoResponse()
                return None
            case _:
                return None

    def _authorized(self, request: Request) -> bool:
        expected = self._config.api_key
        if expected is None:
            return True
        headers = request.headers
        return headers.get("api-key") == expected or headers.get("authorization") == (
            f"Bearer {expected}"
        )

    def _datum(self, prompt: str, index: int, width: int, height: int, as_url: bool) -> ImageDatum:
        b64 = self._images.b64_png(prompt, index, width, height)
        if as_url:
            return ImageDatum(url=f"data:image/png;base64,{b64}", revised_prompt=None)
        return ImageDatum(b64_json=b64, revised_prompt=None)

    def _openai_body(self, request: OpenAIImageRequest) -> tuple[BaseModel, int]:
        width, height = parse_size(request.size)
        quality = normalize_quality(request.quality)
        input_tokens = text_tokens(request.prompt)
        output_tokens = image_tokens(width, height, quality) * request.n
        as_url = request.response_format == "url"
        body = OpenAIImagesResponse(
            created=int(time.time()),
            data=[self._datum(request.prompt, i, width, height, as_url) for i in range(request.n)],
            usage=OpenAIImageUsage(
                input_tokens=input_tokens,
                input_tokens_details=InputTokensDetails(text_tokens=input_tokens, image_tokens=0),
                output_tokens=output_tokens,
                total_tokens=input_tokens + output_tokens,
            ),
            background="transparent" if request.background == "transparent" else "opaque",
            output_format=request.output_format,
            quality=quality,
            size=f"{width}x{height}",
        )
        return body, request.n

    def _edit_body(self, parsed: ParsedEdit) -> tuple[BaseModel, int]:
        request, images, mask = parsed
        width, height = parse_size(request.size)
        quality = normalize_quality(request.quality)
        prompt_tokens = text_tokens(request.prompt)
        output_tokens = image_tokens(width, height, quality) * request.n
        image_input = request.input_tokens_images
        data = [
            ImageDatum(
                b64_json=edited_b64(request.prompt, i, images[0], mask, width, height),
                revised_prompt=None,
            )
            for i in range(request.n)
        ]
        body = OpenAIImagesResponse(
            created=int(time.time()),
            data=data,
            usage=OpenAIImageUsage(
                input_tokens=prompt_tokens + image_input,
                input_tokens_details=InputTokensDetails(
                    text_tokens=prompt_tokens, image_tokens=image_input
                ),
                output_tokens=output_tokens,
                total_tokens=prompt_tokens + image_input + output_tokens,
            ),
            background="opaque",
            output_format=request.output_format,
            quality=quality,
            size=f"{width}x{height}",
        )
        return body, request.n

    def _mai_body(self, request: MAIImageRequest) -> tuple[BaseModel, int]:
        output_tokens = image_tokens(request.width, request.height, "medium")
        body = MAIImagesResponse(
            created=int(time.time()),
            data=[self._datum(request.prompt, 0, request.width, request.height, as_url=False)],
            usage=MAIImageUsage(
                num_input_text_tokens=text_tokens(request.prompt),
                num_input_image_tokens=0,
                output_image_tokens=output_tokens,
                num_output_tokens=output_tokens,
            ),
        )
        return body, 1


async def _parse(request: Request, model: type[_RequestT]) -> _RequestT | Response:
    """The validated body, or the 400 to answer with."""
    try:
        raw = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return error_response(
            error_body(
                "We could not parse the JSON body of your request.", "invalid_request_error"
            ),
            400,
        )
    if not isinstance(raw, dict):
        return error_response(
            error_body("The request body must be a JSON object.", "invalid_request_error"), 400
        )
    try:
        # explicit nulls mean "use the default", as they do for OpenAI's API
        return model.model_validate({key: value for key, value in raw.items() if value is not None})
    except ValidationError as exc:
        return error_response(invalid_request(exc), 400)
