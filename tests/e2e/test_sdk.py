"""The official openai SDK against a real `tiergate serve` and real simulator processes."""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Iterator
from decimal import Decimal

import openai
import pytest
import yaml

from tests.conftest import TEAM_KEYS, policy_dict, write_policy
from tests.support import Server, gateway


@pytest.fixture(scope="module")
def served(
    simulators: dict[str, Server], sim_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    path = write_policy(tmp_path_factory.mktemp("sdk"), yaml.safe_dump(policy_dict()))
    with gateway(path, env=sim_env) as server:
        yield server


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_sdk_generates_a_png_and_headers_price_the_usage(served: Server) -> None:
    client = openai.OpenAI(base_url=served.url + "/v1", api_key=TEAM_KEYS["demo"], max_retries=0)
    raw = client.images.with_raw_response.generate(
        model="auto", prompt="A watercolor of a fox in a meadow", size="1024x1024", quality="medium"
    )
    result = raw.parse()
    image = base64.b64decode(result.data[0].b64_json or "")
    width, height = png_size(image)
    assert width >= 64 and height >= 64
    # IDAT decompresses: a real PNG, not just a signature.
    idat = image[image.index(b"IDAT") + 4 :]
    assert zlib.decompressobj().decompress(idat)
    headers = raw.headers
    assert headers["x-tiergate-tier"] == "efficient"
    assert headers["x-tiergate-model"] == "openai/mai-image-2-efficient"
    assert headers["x-tiergate-request-id"].startswith("req_")
    assert headers["x-tiergate-route-reason"]
    usage = result.usage
    assert usage is not None
    text_tokens = usage.input_tokens_details.text_tokens
    expected = Decimal(text_tokens) * Decimal("5.00") + Decimal(usage.output_tokens) * Decimal(
        "19.50"
    )
    assert Decimal(headers["x-tiergate-cost-usd"]) == (expected / 1_000_000).quantize(
        Decimal("0.000001")
    )
    assert usage.output_tokens == 1056


def test_sdk_forces_the_flagship_by_model_name(served: Server) -> None:
    client = openai.OpenAI(base_url=served.url + "/v1", api_key=TEAM_KEYS["demo"], max_retries=0)
    raw = client.images.with_raw_response.generate(
        model="MAI-Image-2", prompt="a red cube", n=2, size="1024x1536", quality="low"
    )
    result = raw.parse()
    assert raw.headers["x-tiergate-tier"] == "flagship"
    assert len(result.data) == 2
    assert result.usage is not None and result.usage.output_tokens == 2 * 408
    cost = Decimal(raw.headers["x-tiergate-cost-usd"])
    expected = (Decimal(result.usage.input_tokens_details.text_tokens) * 5 + 816 * 33) / 1_000_000
    assert cost == expected.quantize(Decimal("0.000001"))


def test_sdk_sees_openai_errors(served: Server) -> None:
    client = openai.OpenAI(base_url=served.url + "/v1", api_key="tg-nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        client.images.generate(model="auto", prompt="a cat")
    assert info.value.code == "invalid_api_key"
    client = openai.OpenAI(base_url=served.url + "/v1", api_key=TEAM_KEYS["demo"], max_retries=0)
    with pytest.raises(openai.BadRequestError) as bad:
        client.images.generate(model="auto", prompt="a cat", size="640x480")  # type: ignore[arg-type]
    assert bad.value.param == "size"
