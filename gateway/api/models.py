"""OpenAI Images API request and response models: the API's schema."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    field_validator,
    model_validator,
)

from gateway.policy.schema import Quality
from gateway.tokens import input_image_tokens


def _reject_strings(value: Any) -> Any:
    if isinstance(value, str | bool):
        raise ValueError("must be an integer")
    return value


# A JSON integer: 2 and 2.0 are accepted, "2", true and 2.5 are not.
JsonInt = Annotated[int, BeforeValidator(_reject_strings)]

MAX_PROMPT_CHARS = 32_000
MAX_IMAGES = 10
DEFAULT_SIZE = "1024x1024"


class ImageGenerationRequest(BaseModel):
    """``POST /v1/images/generations`` body, as the official SDKs send it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: StrictStr = Field(default="auto", min_length=1, max_length=200)
    prompt: StrictStr = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    n: JsonInt = Field(default=1, ge=1, le=MAX_IMAGES)
    size: StrictStr = Field(default="auto", max_length=20)
    quality: Literal["auto", "low", "medium", "high", "standard", "hd"] = "auto"
    response_format: Literal["b64_json", "url"] = "b64_json"
    output_format: Literal["png", "jpeg", "webp"] | None = None
    output_compression: JsonInt | None = Field(default=None, ge=0, le=100)
    background: Literal["transparent", "opaque", "auto"] | None = None
    moderation: Literal["low", "auto"] | None = None
    style: Literal["vivid", "natural"] | None = None
    user: StrictStr | None = Field(default=None, max_length=256)
    stream: StrictBool = False
    partial_images: JsonInt | None = Field(default=None, ge=0, le=3)

    @field_validator("prompt")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("prompt must not be empty or whitespace")
        return value

    @property
    def resolved_size(self) -> str:
        return DEFAULT_SIZE if self.size == "auto" else self.size

    @property
    def resolved_quality(self) -> Quality:
        return _QUALITY[self.quality]

    @property
    def input_image_tokens(self) -> int:
        """Tokens of the input images (an edit's); none for a generation."""
        return 0

    @model_validator(mode="after")
    def _streamable(self) -> Self:
        if self.stream and self.response_format == "url":
            raise ValueError(
                "a streamed response carries its images as b64_json; 'url' cannot be streamed"
            )
        return self


@dataclass(frozen=True, slots=True)
class InputImage:
    """One uploaded image (or mask) of an edit, checked and measured."""

    data: bytes
    media_type: str
    filename: str
    width: int
    height: int


class ImageEditRequest(ImageGenerationRequest):
    """``POST /v1/images/edits`` (multipart): a generation's fields plus the input images."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    images: tuple[InputImage, ...] = Field(min_length=1)
    mask: InputImage | None = None
    input_fidelity: Literal["low", "high"] | None = None

    @property
    def input_image_tokens(self) -> int:
        return sum(input_image_tokens(image.width, image.height) for image in self.images)


_QUALITY = {
    "auto": Quality.medium,
    "standard": Quality.medium,
    "hd": Quality.high,
    "low": Quality.low,
    "medium": Quality.medium,
    "high": Quality.high,
}


class ImageData(BaseModel):
    b64_json: str | None = None
    url: str | None = None
    revised_prompt: str | None = None


class InputTokensDetails(BaseModel):
    text_tokens: int
    image_tokens: int = 0


class ImageUsage(BaseModel):
    input_tokens: int
    input_tokens_details: InputTokensDetails
    output_tokens: int
    total_tokens: int


class ImagesResponse(BaseModel):
    created: int
    data: list[ImageData]
    usage: ImageUsage | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "tiergate"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    error: ErrorDetail
