"""Token usage of a simulated image request: the gpt-image-1 style output table, pure.

The gateway's default policy mirrors :data:`IMAGE_OUTPUT_TOKENS`; text tokens are
counted with tiktoken ``o200k_base`` (see :mod:`gateway.tokens`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal, get_args

from gateway.tokens import count_text_tokens

Quality = Literal["low", "medium", "high"]
RequestedQuality = Literal["low", "medium", "high", "auto", "standard", "hd"]
RequestedSize = Literal[
    "auto",
    "1024x1024",
    "1024x1536",
    "1536x1024",
    "256x256",
    "512x512",
    "1792x1024",
    "1024x1792",
]

SUPPORTED_SIZES: Final[tuple[str, ...]] = get_args(RequestedSize)
SUPPORTED_QUALITIES: Final[tuple[str, ...]] = get_args(RequestedQuality)

IMAGE_OUTPUT_TOKENS: Final[Mapping[tuple[int, int], Mapping[Quality, int]]] = MappingProxyType(
    {
        (1024, 1024): MappingProxyType({"low": 272, "medium": 1056, "high": 4160}),
        (1024, 1536): MappingProxyType({"low": 408, "medium": 1584, "high": 6240}),
        (1536, 1024): MappingProxyType({"low": 408, "medium": 1584, "high": 6240}),
    }
)
"""Output image tokens per image by (width, height) and quality.

Sizes not in the table scale the 1024x1024 figure by pixel area, rounded.
"""

_BASE_SIZE: Final = (1024, 1024)
_QUALITY_ALIASES: Final[Mapping[RequestedQuality, Quality]] = MappingProxyType(
    {
        "low": "low",
        "medium": "medium",
        "high": "high",
        "auto": "medium",
        "standard": "medium",
        "hd": "high",
    }
)


def normalize_quality(quality: RequestedQuality) -> Quality:
    """``auto`` and ``standard`` mean medium; ``hd`` means high."""
    return _QUALITY_ALIASES[quality]


def parse_size(size: RequestedSize) -> tuple[int, int]:
    """``"1536x1024"`` -> ``(1536, 1024)``; ``"auto"`` means 1024x1024."""
    if size == "auto":
        return _BASE_SIZE
    width, _, height = size.partition("x")
    return int(width), int(height)


def image_tokens(width: int, height: int, quality: RequestedQuality) -> int:
    """Output tokens for one image of ``width`` x ``height`` pixels at ``quality``."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    level = normalize_quality(quality)
    listed = IMAGE_OUTPUT_TOKENS.get((width, height))
    if listed is not None:
        return listed[level]
    base = IMAGE_OUTPUT_TOKENS[_BASE_SIZE][level]
    return round(base * (width * height) / (_BASE_SIZE[0] * _BASE_SIZE[1]))


def text_tokens(prompt: str) -> int:
    """Input text tokens of a prompt (tiktoken ``o200k_base``)."""
    return count_text_tokens(prompt)
