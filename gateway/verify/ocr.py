"""``OcrReader``: the text in a PNG, read by RapidOCR off the event loop.

OCR is CPU work (~150-300 ms an image on one core). It runs in a bounded pool of threads
(onnxruntime releases the GIL while it infers), each with its own engine loaded from the
models inside the ``rapidocr_onnxruntime`` wheel; nothing is downloaded. A request whose
image is waiting for a thread holds no event-loop time, so unverified requests are never
stalled behind OCR. Images are scaled so their longest side is at most ``max_side``.
"""

from __future__ import annotations

import asyncio
import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class OcrReading:
    text: str
    seconds: float


def reading_order(found: list[Any]) -> str:
    """The boxes' texts line by line, left to right. RapidOCR orders by the top edge, so a
    word with an accent or umlaut above it (taller box) could jump ahead of its line."""
    boxes = []
    for points, text, *_ in found:
        ys = [p[1] for p in points]
        boxes.append(((min(ys) + max(ys)) / 2, max(ys) - min(ys), min(p[0] for p in points), text))
    boxes.sort()
    lines: list[list[tuple[float, float, float, str]]] = []
    for box in boxes:
        if lines and abs(box[0] - lines[-1][0][0]) < 0.5 * min(box[1], lines[-1][0][1]):
            lines[-1].append(box)
        else:
            lines.append([box])
    return " ".join(str(b[3]) for line in lines for b in sorted(line, key=lambda b: b[2]))


class OcrReader:
    def __init__(self, threads: int = 2, max_side: int = 1024) -> None:
        self.threads = threads
        self.max_side = max_side
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()

    def _executor(self) -> ThreadPoolExecutor:
        """The pool, made on first use and again after ``close`` (an app that serves again,
        as ASGI test clients make it, gets a new one)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=self.threads, thread_name_prefix="tiergate-ocr"
            )
        return self._pool

    def _engine(self) -> Any:
        engine = getattr(self._local, "engine", None)
        if engine is None:
            from rapidocr_onnxruntime import RapidOCR

            # One inference thread per engine: the pool's size is the parallelism.
            engine = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)
            self._local.engine = engine
        return engine

    def read_sync(self, png: bytes) -> OcrReading:
        import numpy as np
        from PIL import Image

        started = time.perf_counter()
        with Image.open(io.BytesIO(png)) as image:
            rgb = image.convert("RGB")
        if max(rgb.size) > self.max_side:
            rgb.thumbnail((self.max_side, self.max_side))
        found, _ = self._engine()(np.asarray(rgb))
        return OcrReading(reading_order(found or []), time.perf_counter() - started)

    async def read(self, png: bytes) -> OcrReading:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor(), self.read_sync, png
        )

    def warm_up(self) -> None:
        """Load one engine now rather than on the first verified request."""
        self._executor().submit(self._engine).result()

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
