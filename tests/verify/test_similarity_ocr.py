"""OCR on text rendered with the simulator's own fonts, scored by the similarity measure."""

from __future__ import annotations

import pytest

from gateway.simulator.text_image import font_path, render_text_png, text_size_for
from gateway.verify.ocr import OcrReader
from gateway.verify.similarity import normalize, similarity


@pytest.fixture(scope="module")
def reader() -> OcrReader:
    return OcrReader(threads=1)


def test_normalization_ignores_case_spacing_punctuation_and_accents() -> None:
    assert normalize("  Summer\nSALE! ") == "summersale"
    assert normalize("Crème Brûlée") == "cremebrulee"
    assert normalize("ＡＢＣ　１２３") == "abc123"  # full-width forms fold
    assert normalize("夏季 大促销。") == "夏季大促销"


def test_similarity_scores() -> None:
    assert similarity("Summer Sale", "SUMMER SALE") == 1.0
    assert similarity("Summer Sale", "Sumer Sale") == pytest.approx(0.9)
    assert similarity("OPEN", "HHJN") == pytest.approx(0.25)
    assert similarity("夏季大促销", "夏季S促销") == pytest.approx(0.8)
    assert similarity("", "") == 1.0 and similarity("", "noise") == 0.0
    assert similarity("abc", "") == 0.0


@pytest.mark.parametrize(
    "text",
    [
        "Summer Sale",
        "Grand Opening Celebration This Weekend Only",
        "Café Crème Brûlée",
        "Äpfel und Öl für München",
        "夏季大促销",
        "新年快乐 万事如意",
    ],
)
def test_rendered_text_reads_back(reader: OcrReader, text: str) -> None:
    assert font_path(any(ord(ch) > 0x3000 for ch in text)) is not None, "fonts are installed"
    png = render_text_png(text, *text_size_for(1024, 1024), b"seed")
    assert similarity(text, reader.read_sync(png).text) >= 0.9


def test_very_long_text_still_reads_mostly_right(reader: OcrReader) -> None:
    text = (
        "Join us for the annual community garden festival with live music local food "
        "workshops for children and a plant swap from ten until four"
    )
    png = render_text_png(text, *text_size_for(1024, 1024), b"seed")
    assert similarity(text, reader.read_sync(png).text) >= 0.8


def test_an_image_without_text_reads_as_nothing(reader: OcrReader) -> None:
    png = render_text_png(" ", 768, 768, b"seed")
    assert reader.read_sync(png).text == ""
    assert similarity("Summer Sale", reader.read_sync(png).text) == 0.0


async def test_reading_runs_off_the_event_loop(reader: OcrReader) -> None:
    import asyncio
    import time

    png = render_text_png("Summer Sale", 768, 768, b"seed")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    started = time.perf_counter()
    reading = await reader.read(png)
    elapsed = time.perf_counter() - started
    ticker.cancel()
    assert reading.text == "Summer Sale"
    # The loop kept running while OCR worked: blocked, it would tick once or not at all. (A
    # fifth of the ideal rate, not a half: on a 2-core machine under load the ticker gets the
    # core less often, and that is not the loop being blocked.)
    assert ticks >= max(5, int(elapsed / 0.01) // 5)


async def test_a_closed_reader_opens_again_for_an_app_that_serves_again() -> None:
    reader = OcrReader(threads=1)
    png = render_text_png("Summer Sale", 768, 768, b"seed")
    assert (await reader.read(png)).text == "Summer Sale"
    reader.close()  # the lifespan ended
    assert (await reader.read(png)).text == "Summer Sale"  # and a new one began
    reader.close()
