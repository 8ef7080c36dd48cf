"""Deterministic placeholder PNGs, written with zlib and struct (no Pillow), and their LRU.

An image is an 8x8 grid of coloured blocks whose colours come from a hash of the prompt
(and the image's index within the request). Neighbouring blocks are colour-inverted, so
no image is ever a single flat colour. The pixel size is *not* the requested size: the
short side is 64 pixels and the long side keeps the requested aspect ratio (at most 2:1),
which keeps responses small and rendering cheap. A prompt that asks for text gets an image
that shows it instead (``text_image``), large enough to read back.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
import zlib
from collections import OrderedDict
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from gateway.simulator.text_image import TextSource

PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
SHORT_SIDE_PX: Final = 64
MAX_ASPECT: Final = 2.0
GRID: Final = 8
_INVERT: Final = bytes(range(255, -1, -1))


def pixel_size_for(width: int, height: int) -> tuple[int, int]:
    """The placeholder's pixel size for a requested ``width`` x ``height``."""
    aspect = min(max(width, height) / min(width, height), MAX_ASPECT)
    long_side = round(SHORT_SIDE_PX * aspect)
    return (long_side, SHORT_SIDE_PX) if width >= height else (SHORT_SIDE_PX, long_side)


def image_seed(prompt: str, index: int) -> bytes:
    """The hash an image's colours come from: same prompt and index, same image."""
    return hashlib.sha256(f"{index}\x00{prompt}".encode()).digest()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def render_png(seed: bytes, width_px: int, height_px: int) -> bytes:
    """An 8-bit RGB PNG of ``width_px`` x ``height_px`` coloured blocks derived from ``seed``."""
    if width_px < GRID or height_px < GRID:
        raise ValueError(f"image must be at least {GRID}x{GRID} pixels")
    palette = hashlib.shake_256(seed).digest(GRID * GRID * 3)
    col_starts = [-(-col * width_px // GRID) for col in range(GRID + 1)]  # ceil
    block_rows: list[bytes] = []
    for block_row in range(GRID):
        runs = [b"\x00"]  # filter type 0 (None) starts every scanline
        for col in range(GRID):
            offset = (block_row * GRID + col) * 3
            colour = palette[offset : offset + 3]
            if (block_row + col) % 2:
                colour = colour.translate(_INVERT)
            runs.append(colour * (col_starts[col + 1] - col_starts[col]))
        block_rows.append(b"".join(runs))
    raw = b"".join(block_rows[y * GRID // height_px] for y in range(height_px))
    header = struct.pack(">IIBBBBB", width_px, height_px, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )


_PAD_CHUNK: Final = b"tgPd"  # ancillary, private, safe to copy: decoders skip it


def pad_png(data: bytes, total_bytes: int) -> bytes:
    """``data`` padded with random bytes before IEND to ``total_bytes`` long (or as is)."""
    fill = total_bytes - len(data) - 12  # length + type + CRC
    if fill <= 0:
        return data
    iend = data.rindex(b"IEND") - 4
    return data[:iend] + _chunk(_PAD_CHUNK, os.urandom(fill)) + data[iend:]


class ImageCache:
    """Base64 PNGs by (prompt, image index, requested size), least recently used evicted."""

    def __init__(
        self,
        max_entries: int,
        image_bytes: int | None = None,
        text_source: TextSource | None = None,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._image_bytes = image_bytes
        self._text_source = text_source
        self._entries: OrderedDict[tuple[bytes, int, int], str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def b64_png(self, prompt: str, index: int, width: int, height: int) -> str:
        """The base64 PNG for image ``index`` of ``prompt`` at the requested size."""
        seed = image_seed(prompt, index)
        key = (seed, width, height)
        cached = self._entries.get(key)
        if cached is not None:
            self._entries.move_to_end(key)
            return cached
        drawn = self._text_source.drawn(prompt, index) if self._text_source else None
        if drawn is not None:  # the prompt asks for text: an image that shows it (Pillow)
            from gateway.simulator.text_image import render_text_png, text_size_for

            png = render_text_png(drawn, *text_size_for(width, height), seed)
        else:
            png = render_png(seed, *pixel_size_for(width, height))
        if self._image_bytes is not None:
            png = pad_png(png, self._image_bytes)
        encoded = base64.b64encode(png).decode("ascii")
        self._entries[key] = encoded
        if len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return encoded
