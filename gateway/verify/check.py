"""``TextCheck``: how well an upstream image shows the text a plan expects, and the
outcome of a verified request for its headers, log line, ledger and aggregates."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import structlog

from gateway.upstream.backend import UpstreamResult, image_pieces
from gateway.verify.ocr import OcrReader
from gateway.verify.similarity import similarity

log = structlog.get_logger("gateway.verify")


@dataclass(frozen=True, slots=True)
class Verification:
    """What the check of one request found and did."""

    similarity: float
    passed: bool
    checked_tier: str
    escalated_to: str | None = None
    escalated_similarity: float | None = None
    escalated_passed: bool = False
    """Whether the escalation's image read right (its similarity reached the threshold)."""
    escalation: str | None = None
    """Why an escalation that was due did not happen: ``budget`` (the budget could not
    cover a second call), ``failed`` (the second tier failed) or ``disabled``."""
    escalation_cost_micros: int = 0
    ocr_seconds: float = 0.0

    def header(self) -> str:
        """``x-tiergate-verify``: ``text;similarity=0.62;escalated=flagship`` and the like."""
        parts = ["text", f"similarity={self.similarity:.2f}"]
        if self.escalated_to is not None:
            parts.append(f"escalated={self.escalated_to}")
            if self.escalated_similarity is not None:
                parts.append(f"escalated_similarity={self.escalated_similarity:.2f}")
        elif self.escalation is not None:
            parts.append(f"escalation={self.escalation}")
        return ";".join(parts)


class TextCheck:
    def __init__(self, reader: OcrReader) -> None:
        self.reader = reader

    async def score(self, result: UpstreamResult, expected: str) -> tuple[float, float]:
        """(similarity of the first image's text to ``expected``, OCR seconds); an image
        that does not decode scores 0."""
        pieces = image_pieces(result.images_b64)
        if not pieces:
            return 0.0, 0.0
        try:
            png = base64.b64decode(bytes(pieces[0]), validate=True)
        except (binascii.Error, ValueError):
            return 0.0, 0.0
        try:
            reading = await self.reader.read(png)
        except OSError:  # Pillow cannot read it: not an image we can check
            return 0.0, 0.0
        return similarity(expected, reading.text), reading.seconds

    async def safe_score(self, result: UpstreamResult, expected: str) -> tuple[float | None, float]:
        """``score``, or (None, 0) when OCR itself fails (its libraries missing, a bug): a
        check that cannot run never fails the request, which is returned unverified."""
        try:
            return await self.score(result, expected)
        except Exception:
            log.exception("verify_ocr_failed")
            return None, 0.0
