from __future__ import annotations

import pytest

from gateway.simulator.tokens import (
    IMAGE_OUTPUT_TOKENS,
    RequestedQuality,
    RequestedSize,
    image_tokens,
    normalize_quality,
    parse_size,
    text_tokens,
)


@pytest.mark.parametrize(
    ("width", "height", "quality", "expected"),
    [
        (1024, 1024, "low", 272),
        (1024, 1024, "medium", 1056),
        (1024, 1024, "high", 4160),
        (1024, 1536, "low", 408),
        (1536, 1024, "medium", 1584),
        (1024, 1536, "high", 6240),
        (1024, 1024, "auto", 1056),
        (1024, 1024, "standard", 1056),
        (1024, 1024, "hd", 4160),
        (512, 512, "medium", 264),  # a quarter of the area
        (256, 256, "high", 260),
        (1792, 1024, "medium", 1848),  # 1.75x the area
        (1024, 768, "medium", 792),  # MAI sizes scale the same way
        (1000, 1000, "low", 259),  # 272 * 1e6 / 1048576 = 259.4 -> 259
    ],
)
def test_image_tokens_follow_the_table_and_scale_by_area(
    width: int, height: int, quality: RequestedQuality, expected: int
) -> None:
    assert image_tokens(width, height, quality) == expected


def test_the_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        IMAGE_OUTPUT_TOKENS[(1, 1)] = {}  # type: ignore[index]


@pytest.mark.parametrize("bad", [(0, 1024), (1024, -1)])
def test_image_tokens_reject_empty_sizes(bad: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="positive"):
        image_tokens(*bad, "medium")


@pytest.mark.parametrize(
    ("size", "expected"),
    [("auto", (1024, 1024)), ("1536x1024", (1536, 1024)), ("1024x1792", (1024, 1792))],
)
def test_parse_size(size: RequestedSize, expected: tuple[int, int]) -> None:
    assert parse_size(size) == expected


def test_quality_aliases() -> None:
    assert [normalize_quality(q) for q in ("auto", "standard", "hd", "low")] == [
        "medium",
        "medium",
        "high",
        "low",
    ]


def test_text_tokens_use_o200k_base() -> None:
    assert text_tokens("hello world") == 2
    assert text_tokens("a watercolor painting of a lighthouse at dusk") > 5
