"""A minimal PNG reader for the tests: enough to prove the simulator's images decode."""

from __future__ import annotations

import base64
import struct
import zlib
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class DecodedPNG:
    width: int
    height: int
    pixels: list[bytes]
    """One ``bytes`` of RGB triples per row, filter bytes removed."""

    def distinct_colours(self) -> set[bytes]:
        return {row[i : i + 3] for row in self.pixels for i in range(0, len(row), 3)}


def decode_png(data: bytes) -> DecodedPNG:
    """Decode an 8-bit RGB, non-interlaced PNG whose scanlines all use filter 0."""
    assert data[:8] == SIGNATURE, "not a PNG signature"
    offset = 8
    chunks: dict[bytes, bytes] = {}
    idat = b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        payload = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + payload) == crc, f"bad CRC in {kind!r}"
        if kind == b"IDAT":
            idat += payload
        else:
            chunks[kind] = payload
        offset += 12 + length
    assert b"IEND" in chunks
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, colour_type, interlace) == (8, 2, 0)
    raw = zlib.decompress(idat)
    stride = 1 + width * 3
    assert len(raw) == stride * height, "IDAT has the wrong length for the IHDR size"
    rows = [raw[y * stride : (y + 1) * stride] for y in range(height)]
    assert all(row[0] == 0 for row in rows)
    return DecodedPNG(width, height, [row[1:] for row in rows])


def decode_b64_png(b64: str) -> DecodedPNG:
    return decode_png(base64.b64decode(b64, validate=True))
