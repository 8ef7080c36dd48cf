"""Images that show the text a prompt asks for, so verification has something real to read.

The text comes from the gateway's own classifier (its text spans: quoted or not, any
script). The flagship profile draws it as asked. The efficient profile garbles it with a
probability that grows with its length, ``1 - (1 - rate) ** characters`` (``rate`` is
``--text-error-rate``, 0.03 by default): a 4-letter headline comes out right 89% of the
time, a 40-character line 30%. A garbled text has about half its characters replaced or
dropped. Every draw is seeded by the prompt, the image's index and ``--text-seed``, so the
same request always gives the same image.

Fonts are Debian's (``fonts-dejavu-core`` for Latin, ``fonts-wqy-microhei`` for CJK);
without them, Pillow's own built-in font (Latin only).
"""

from __future__ import annotations

import functools
import hashlib
import io
import random
import string
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

LATIN_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
)
CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)
#: Pixel size of a text image's short side: large enough for OCR to read a line of 40.
SHORT_SIDE_PX = 768
_MARGIN = 48
_GARBLE = string.ascii_uppercase + string.digits


def is_cjk(text: str) -> bool:
    return any(
        "\u3040" <= ch <= "\u30ff" or "\u3400" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af"
        for ch in text
    )


@functools.cache
def font_path(cjk: bool) -> str | None:
    """The first installed font for the script (CJK fonts also cover Latin)."""
    for path in (CJK_FONTS if cjk else LATIN_FONTS) + (LATIN_FONTS if cjk else ()):
        if Path(path).exists():
            return path
    return None


def _font(text: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = font_path(is_cjk(text))
    if path is None:
        return ImageFont.load_default(size)
    return ImageFont.truetype(path, size)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: object, width: int) -> list[str]:
    """Greedy line breaks at spaces (or anywhere, for text without spaces)."""
    units = text.split(" ") if " " in text else list(text)
    joiner = " " if " " in text else ""
    lines: list[str] = []
    current = ""
    for unit in units:
        trial = f"{current}{joiner}{unit}" if current else unit
        if draw.textlength(trial, font=font) <= width or not current:  # type: ignore[arg-type]
            current = trial
        else:
            lines.append(current)
            current = unit
    if current:
        lines.append(current)
    return lines


def render_text_png(text: str, width_px: int, height_px: int, seed: bytes) -> bytes:
    """A PNG of ``text`` in white on a colour from ``seed``, as large as fits."""
    shade = hashlib.sha256(seed).digest()
    background = (shade[0] // 3, shade[1] // 3 + 20, shade[2] // 3 + 40)
    image = Image.new("RGB", (width_px, height_px), background)
    draw = ImageDraw.Draw(image)
    size = 96
    while True:
        font = _font(text, size)
        lines = _wrap(draw, text, font, width_px - 2 * _MARGIN)
        line_height = int(size * 1.25)
        widest = max((draw.textlength(line, font=font) for line in lines), default=0)
        fits = (
            widest <= width_px - 2 * _MARGIN and line_height * len(lines) <= height_px - 2 * _MARGIN
        )
        if fits or size <= 12:
            break
        size = int(size * 0.85)
    top = (height_px - line_height * len(lines)) // 2
    for row, line in enumerate(lines):
        left = (width_px - draw.textlength(line, font=font)) / 2
        draw.text((left, top + row * line_height), line, font=font, fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def text_size_for(width: int, height: int) -> tuple[int, int]:
    """Pixel size of a text image for a requested size: short side 768, same aspect."""
    scale = SHORT_SIDE_PX / min(width, height)
    return round(width * scale), round(height * scale)


def garble(text: str, rng: random.Random) -> str:
    """About half the characters replaced or dropped (spaces kept, so words stay apart)."""
    out = []
    for ch in text:
        if ch == " " or rng.random() >= 0.5:
            out.append(ch)
        elif rng.random() < 0.7:
            out.append(rng.choice(_GARBLE))
    return "".join(out) or rng.choice(_GARBLE)


class TextSource:
    """The text (if any) a simulator draws for a prompt: as asked, or garbled."""

    def __init__(self, error_rate: float, seed: int = 0) -> None:
        from gateway.classify import Classifier
        from gateway.classify.config import ClassifierConfig

        self._classifier = Classifier.from_config(ClassifierConfig())
        self.error_rate = error_rate
        self.seed = seed

    def asked(self, prompt: str) -> str:
        return " ".join(span.text for span in self._classifier.classify(prompt).text_spans)

    def drawn(self, prompt: str, index: int) -> str | None:
        text = self.asked(prompt).strip()
        if not text:
            return None
        rng = random.Random(hashlib.sha256(f"{self.seed}\x00{index}\x00{prompt}".encode()).digest())
        characters = sum(1 for ch in text if not ch.isspace())
        wrong = 1 - (1 - self.error_rate) ** characters
        return garble(text, rng) if rng.random() < wrong else text
