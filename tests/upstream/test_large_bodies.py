"""Large image bodies: images kept as spans of the upstream buffer, sent in bounded chunks."""

from __future__ import annotations

import base64
import os
from typing import Any

import orjson
import pytest

from gateway.api.responses import SEND_CHUNK_BYTES, JSONPiecesResponse
from gateway.upstream.backend import EncodedImages
from gateway.upstream.wire import SPAN_MIN_BODY_BYTES, parse_result

IMAGE = base64.b64encode(os.urandom(900_000)).decode()  # 1.2 MB of base64


def body(**extra: Any) -> bytes:
    doc = {
        "created": 123,
        "data": [{"b64_json": IMAGE}, {"b64_json": IMAGE[::-1].replace("=", "A")}],
        "usage": {
            "input_tokens": 7,
            "input_tokens_details": {"text_tokens": 7},
            "output_tokens": 2112,
        },
        **extra,
    }
    return orjson.dumps(doc)


def test_large_body_keeps_images_as_spans_and_reads_usage() -> None:
    payload = body()
    assert len(payload) >= SPAN_MIN_BODY_BYTES
    result = parse_result(payload, "efficient", 1.0)
    assert isinstance(result.images_b64, EncodedImages)
    assert list(result.images_b64) == [IMAGE, IMAGE[::-1].replace("=", "A")]
    assert (result.text_tokens, result.image_tokens, result.created) == (7, 2112, 123)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda p: p.replace(b'"b64_json":"', b'"b64_json":"ab\\/', 1),  # JSON escape in the value
        lambda p: p.replace(b'"created":123', b'"created":123,"note":"b64_json"', 1),  # look-alike
        lambda p: p.replace(b'"usage":', b'"meta":{"b64_json":"QUJD"},"usage":', 1),  # extra key
    ],
)
def test_anything_unusual_falls_back_to_a_full_parse(mangle: Any) -> None:
    payload = mangle(body())
    result = parse_result(payload, "efficient", 1.0)
    expected = [item["b64_json"] for item in orjson.loads(payload)["data"]]
    assert list(result.images_b64) == expected


async def test_pieces_response_sends_bounded_chunks_of_the_exact_body() -> None:
    pieces = [b'{"data":[{"b64_json":"', memoryview(IMAGE.encode() * 3), b'"}]}']
    response = JSONPiecesResponse(pieces, headers={"x-tiergate-tier": "efficient"})
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    await response({"type": "http"}, receive, send)  # type: ignore[arg-type]
    start, chunks = sent[0], [m["body"] for m in sent[1:]]
    assert start["status"] == 200
    headers = dict(start["headers"])
    assert int(headers[b"content-length"]) == sum(len(p) for p in pieces)
    assert all(len(chunk) <= SEND_CHUNK_BYTES for chunk in chunks)
    assert (
        b"".join(bytes(c) for c in chunks)
        == response.joined()
        == b"".join(bytes(p) for p in pieces)
    )
    assert orjson.loads(response.joined())["data"][0]["b64_json"] == IMAGE * 3
