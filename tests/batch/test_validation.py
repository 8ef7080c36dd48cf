"""What a batch line may ask for: the generation endpoint's fields, less what a file cannot hold."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.batch.validation import parse_line
from gateway.errors import InvalidRequest


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"prompt": "a cat", "stream": True}, "body.stream"),
        ({"prompt": "a cat", "response_format": "url"}, "body.response_format"),
    ],
)
def test_a_batch_line_cannot_stream_or_answer_with_a_url(body: dict[str, Any], param: str) -> None:
    raw = orjson.dumps(
        {"custom_id": "x", "method": "POST", "url": "/v1/images/generations", "body": body}
    )
    parsed = parse_line(raw, set())
    assert isinstance(parsed, tuple)
    custom_id, error = parsed
    assert custom_id == "x"
    assert isinstance(error, InvalidRequest) and error.param == param
