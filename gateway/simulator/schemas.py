"""Wire models: the OpenAI and Microsoft Foundry MAI image request/response bodies and errors."""

from __future__ import annotations

from typing import Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gateway.simulator.tokens import RequestedQuality, RequestedSize

MAX_PROMPT_CHARS: Final = 32_000
MAI_MIN_SIDE_PX: Final = 768
MAI_MAX_PIXELS: Final = 1_056_768
"""MAI size limits; litellm's MAI transformation enforces the same client-side."""


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)

    @field_validator("prompt")
    @classmethod
    def _prompt_has_text(cls, prompt: str) -> str:
        if not prompt.strip():
            raise ValueError("the prompt must not be blank")
        return prompt


class OpenAIImageRequest(_Request):
    """``POST /v1/images/generations``; unknown fields are ignored."""

    model: str = "gpt-image-1"
    n: int = Field(default=1, ge=1, le=10)
    size: RequestedSize = "auto"
    quality: RequestedQuality = "auto"
    response_format: Literal["b64_json", "url"] = "b64_json"
    output_format: Literal["png", "jpeg", "webp"] = "png"
    background: Literal["transparent", "opaque", "auto"] = "auto"
    user: str | None = None
    stream: bool = False
    partial_images: int = Field(default=0, ge=0, le=3)


class MAIImageRequest(_Request):
    """``POST /mai/v1/images/generations`` as litellm's ``azure_ai/MAI-Image-*`` sends it."""

    model: str = "MAI-Image-2"
    width: int = Field(default=1024, ge=MAI_MIN_SIDE_PX)
    height: int = Field(default=1024, ge=MAI_MIN_SIDE_PX)

    @model_validator(mode="after")
    def _at_most_max_pixels(self) -> Self:
        if self.width * self.height > MAI_MAX_PIXELS:
            raise ValueError(
                f"width x height must be at most {MAI_MAX_PIXELS} pixels, "
                f"got {self.width}x{self.height}"
            )
        return self


class ImageDatum(BaseModel):
    """One image; responses are dumped with ``exclude_unset`` so only set fields appear."""

    b64_json: str | None = None
    url: str | None = None
    revised_prompt: str | None = None


class InputTokensDetails(BaseModel):
    text_tokens: int
    image_tokens: int


class OpenAIImageUsage(BaseModel):
    input_tokens: int
    input_tokens_details: InputTokensDetails
    output_tokens: int
    total_tokens: int


class OpenAIImagesResponse(BaseModel):
    """gpt-image-1's response shape."""

    created: int
    data: list[ImageDatum]
    usage: OpenAIImageUsage
    background: Literal["transparent", "opaque"]
    output_format: Literal["png", "jpeg", "webp"]
    quality: Literal["low", "medium", "high"]
    size: str


class MAIImageUsage(BaseModel):
    """MAI's own usage names; litellm maps them to input/output/total tokens."""

    num_input_text_tokens: int
    num_input_image_tokens: int
    output_image_tokens: int
    num_output_tokens: int


class MAIImagesResponse(BaseModel):
    created: int
    data: list[ImageDatum]
    usage: MAIImageUsage


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorBody(BaseModel):
    """OpenAI's error envelope, used on every endpoint (MAI's carries the same keys)."""

    error: ErrorDetail


def error_body(
    message: str, type_: str, param: str | None = None, code: str | None = None
) -> ErrorBody:
    return ErrorBody(error=ErrorDetail(message=message, type=type_, param=param, code=code))


def invalid_request(exc: ValidationError) -> ErrorBody:
    """The first validation error as an OpenAI ``invalid_request_error``."""
    first = exc.errors(include_url=False)[0]
    location = [str(part) for part in first["loc"]]
    param = location[0] if location else None
    if first["type"] == "missing":
        return error_body(
            f"Missing required parameter: '{param}'.",
            "invalid_request_error",
            param,
            "missing_required_parameter",
        )
    where = f"'{'.'.join(location)}'" if location else "the request"
    return error_body(
        f"Invalid value for {where}: {first['msg']}.",
        "invalid_request_error",
        param,
        "invalid_value",
    )
