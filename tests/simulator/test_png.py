from __future__ import annotations

import base64

import pytest

from gateway.simulator.png import ImageCache, image_seed, pixel_size_for, render_png
from tests.simulator.png_reader import decode_b64_png, decode_png


@pytest.mark.parametrize(
    ("requested", "pixels"),
    [
        ((1024, 1024), (64, 64)),
        ((1536, 1024), (96, 64)),
        ((1024, 1536), (64, 96)),
        ((1024, 1792), (64, 112)),
        ((256, 256), (64, 64)),
        ((1024, 768), (85, 64)),
        ((4096, 1024), (128, 64)),  # aspect capped at 2:1
    ],
)
def test_pixel_size_keeps_the_aspect_with_a_64_px_short_side(
    requested: tuple[int, int], pixels: tuple[int, int]
) -> None:
    assert pixel_size_for(*requested) == pixels


@pytest.mark.parametrize(("width", "height"), [(64, 64), (96, 64), (85, 64), (64, 112)])
def test_render_png_decodes_to_a_non_blank_image(width: int, height: int) -> None:
    image = decode_png(render_png(image_seed("a red fox", 0), width, height))
    assert (image.width, image.height) == (width, height)
    assert len(image.distinct_colours()) > 1


def test_images_are_deterministic_per_prompt_and_index() -> None:
    fox = render_png(image_seed("a red fox", 0), 64, 64)
    assert render_png(image_seed("a red fox", 0), 64, 64) == fox
    assert render_png(image_seed("a red fox", 1), 64, 64) != fox
    assert render_png(image_seed("a blue fox", 0), 64, 64) != fox


def test_render_png_rejects_tiny_images() -> None:
    with pytest.raises(ValueError, match="at least"):
        render_png(b"seed", 4, 64)


def test_cache_returns_the_same_image_and_evicts_the_least_recently_used() -> None:
    cache = ImageCache(max_entries=2)
    first = cache.b64_png("one", 0, 1024, 1024)
    assert base64.b64decode(first) == render_png(image_seed("one", 0), 64, 64)
    cache.b64_png("two", 0, 1024, 1024)
    assert cache.b64_png("one", 0, 1024, 1024) is first  # a hit, and now most recent
    cache.b64_png("three", 0, 1024, 1024)  # evicts "two"
    assert len(cache) == 2
    assert cache.b64_png("one", 0, 1024, 1024) is first
    assert decode_b64_png(cache.b64_png("two", 0, 1536, 1024)).width == 96


def test_cache_needs_room_for_one_image() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ImageCache(0)
