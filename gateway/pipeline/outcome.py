"""What one successful generation produced: for the response body, headers, log and ledger."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from gateway.pipeline.routing import RoutingDecision
from gateway.upstream.backend import UpstreamResult, image_pieces
from gateway.verify.check import Verification


def format_usd(micros: int) -> str:
    return f"{micros / 1_000_000:.6f}"


@dataclass(slots=True)
class Outcome:
    """What one successful generation produced, for the response body, headers and the log."""

    request_id: str
    decision: RoutingDecision
    result: UpstreamResult
    text_tokens: int
    image_tokens: int
    cost_micros: int
    estimate_micros: int
    usage_reported: bool
    headers: dict[str, str] = field(default_factory=dict)
    verification: Verification | None = None
    #: An edit's input images (priced at the tier's image input price).
    input_image_tokens: int = 0

    def usage(self) -> dict[str, object]:
        """The response's ``usage`` object, as OpenAI's Images API gives it."""
        inputs = self.text_tokens + self.input_image_tokens
        return {
            "input_tokens": inputs,
            "input_tokens_details": {
                "text_tokens": self.text_tokens,
                "image_tokens": self.input_image_tokens,
            },
            "output_tokens": self.image_tokens,
            "total_tokens": inputs + self.image_tokens,
        }

    def body(self) -> list[bytes | memoryview]:
        """The ``ImagesResponse`` JSON as byte pieces: each image is its upstream bytes (no
        copy), between orjson-rendered fields; the same document ``orjson.dumps`` would give."""
        usage = orjson.dumps(self.usage())
        pieces: list[bytes | memoryview] = [b'{"created":%d,"data":[' % self.result.created]
        for index, image in enumerate(image_pieces(self.result.images_b64)):
            pieces += (b'{"b64_json":"' if index == 0 else b',{"b64_json":"', image, b'"}')
        pieces.append(b'],"usage":' + usage + b"}")
        return pieces
