"""The tier simulator, answering with PNGs padded to ``--image-bytes`` (bench only).

The simulator's own ``--image-bytes`` pads every PNG. The memory benchmark needs both sizes
from one server: this launcher pads the PNG of every prompt containing ``[large]`` with a
private ancillary chunk of random (incompressible) bytes to exactly the requested size (the PNG
stays valid); other prompts get the usual ~1 KB image, so a gateway can be warmed up with small
images before a cold large round.
Every other flag is the simulator's.

Run: ``python bench/large_image_sim.py --image-bytes 4194304 --port P --latency-scale 0``.
"""

from __future__ import annotations

import argparse
import base64
import os
import struct
import sys
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.simulator import __main__ as simulator_main
from gateway.simulator import png

LARGE_MARKER = "[large]"
_CHUNK_OVERHEAD = 12  # length + type + crc


def padded(data: bytes, total_bytes: int) -> bytes:
    """``data`` (a PNG) with a ``tgPd`` chunk before IEND so that it is ``total_bytes`` long."""
    iend = data.rindex(b"IEND") - 4
    fill = max(0, total_bytes - len(data) - _CHUNK_OVERHEAD)
    payload = os.urandom(fill)
    chunk = (
        struct.pack(">I", fill)
        + b"tgPd"
        + payload
        + struct.pack(">I", zlib.crc32(b"tgPd" + payload))
    )
    return data[:iend] + chunk + data[iend:]


def main() -> int:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--image-bytes", type=int, default=4 * 1024 * 1024)
    known, rest = pre.parse_known_args()
    original = png.ImageCache.b64_png

    def b64_png(self: png.ImageCache, prompt: str, index: int, width: int, height: int) -> str:
        b64 = original(self, prompt, index, width, height)
        if LARGE_MARKER not in prompt:
            return b64
        return base64.b64encode(padded(base64.b64decode(b64), known.image_bytes)).decode("ascii")

    png.ImageCache.b64_png = b64_png  # type: ignore[method-assign]
    return simulator_main.main(rest)


if __name__ == "__main__":
    raise SystemExit(main())
