"""The image endpoints over a real socket: images, usage, validation, auth."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from gateway.simulator import (
    RunningSimulator,
    SimulatorConfig,
    create_simulator_app,
    running_simulator,
)
from gateway.simulator import images as images_module
from gateway.simulator.tokens import text_tokens
from tests.simulator.png_reader import decode_b64_png

OPENAI = "/v1/images/generations"
MAI = "/mai/v1/images/generations?api-version=2025-02-01-preview"
PROMPT = "a watercolor painting of a lighthouse at dusk"


async def _generate(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post(OPENAI, json={"prompt": PROMPT, **fields})
    assert response.status_code == 200, response.text
    assert response.headers["x-tiergate-simulator"] == "flagship"
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


async def test_openai_endpoint_returns_a_decodable_non_blank_png(
    client: httpx.AsyncClient,
) -> None:
    body = await _generate(client, model="gpt-image-1", size="1024x1024", quality="medium")
    assert isinstance(body["created"], int)
    assert body["data"][0]["revised_prompt"] is None
    image = decode_b64_png(body["data"][0]["b64_json"])
    assert image.width >= 64 and image.height >= 64
    assert len(image.distinct_colours()) > 1


async def test_images_are_deterministic_per_prompt(client: httpx.AsyncClient) -> None:
    first = await _generate(client)
    again = await _generate(client)
    other = await _generate(client, prompt="a red fox in the snow")
    assert first["data"][0]["b64_json"] == again["data"][0]["b64_json"]
    assert other["data"][0]["b64_json"] != first["data"][0]["b64_json"]


async def test_n_images_are_distinct_and_the_first_matches_a_single_request(
    client: httpx.AsyncClient,
) -> None:
    single = await _generate(client)
    three = await _generate(client, n=3)
    encoded = [datum["b64_json"] for datum in three["data"]]
    assert len(set(encoded)) == 3
    assert encoded[0] == single["data"][0]["b64_json"]


async def test_wide_sizes_give_wide_images(client: httpx.AsyncClient) -> None:
    body = await _generate(client, size="1536x1024")
    image = decode_b64_png(body["data"][0]["b64_json"])
    assert image.width > image.height >= 64


@pytest.mark.parametrize(
    ("size", "quality", "n", "per_image", "resolved_quality", "resolved_size"),
    [
        ("1024x1024", "low", 1, 272, "low", "1024x1024"),
        ("1024x1024", "medium", 1, 1056, "medium", "1024x1024"),
        ("1024x1024", "high", 2, 4160, "high", "1024x1024"),
        ("1024x1536", "low", 1, 408, "low", "1024x1536"),
        ("1536x1024", "medium", 3, 1584, "medium", "1536x1024"),
        ("1536x1024", "high", 1, 6240, "high", "1536x1024"),
        ("auto", "auto", 1, 1056, "medium", "1024x1024"),
        ("1024x1024", "hd", 1, 4160, "high", "1024x1024"),
        ("1024x1024", "standard", 1, 1056, "medium", "1024x1024"),
        ("512x512", "medium", 1, 264, "medium", "512x512"),
        ("1792x1024", "high", 1, 7280, "high", "1792x1024"),
    ],
)
async def test_usage_matches_the_table(
    client: httpx.AsyncClient,
    size: str,
    quality: str,
    n: int,
    per_image: int,
    resolved_quality: str,
    resolved_size: str,
) -> None:
    body = await _generate(client, size=size, quality=quality, n=n)
    prompt_tokens = text_tokens(PROMPT)
    assert body["usage"] == {
        "input_tokens": prompt_tokens,
        "input_tokens_details": {"text_tokens": prompt_tokens, "image_tokens": 0},
        "output_tokens": per_image * n,
        "total_tokens": prompt_tokens + per_image * n,
    }
    assert len(body["data"]) == n
    assert (body["quality"], body["size"]) == (resolved_quality, resolved_size)


async def test_url_format_is_a_data_url(client: httpx.AsyncClient) -> None:
    body = await _generate(client, response_format="url")
    url: str = body["data"][0]["url"]
    assert "b64_json" not in body["data"][0]
    assert url.startswith("data:image/png;base64,")
    assert decode_b64_png(url.removeprefix("data:image/png;base64,")).width == 64


async def test_unknown_fields_and_nulls_are_ignored(client: httpx.AsyncClient) -> None:
    body = await _generate(client, moderation="low", style=None, n=None, output_compression=50)
    assert len(body["data"]) == 1


@pytest.mark.parametrize(
    ("payload", "param", "code"),
    [
        ({}, "prompt", "missing_required_parameter"),
        ({"prompt": ""}, "prompt", "invalid_value"),
        ({"prompt": "   "}, "prompt", "invalid_value"),
        ({"prompt": "x", "n": 0}, "n", "invalid_value"),
        ({"prompt": "x", "n": 11}, "n", "invalid_value"),
        ({"prompt": "x", "size": "999x999"}, "size", "invalid_value"),
        ({"prompt": "x", "quality": "ultra"}, "quality", "invalid_value"),
        ({"prompt": "x", "response_format": "bmp"}, "response_format", "invalid_value"),
    ],
)
async def test_bad_input_is_an_openai_400(
    client: httpx.AsyncClient, payload: dict[str, Any], param: str, code: str
) -> None:
    response = await client.post(OPENAI, json=payload)
    assert response.status_code == 400
    assert response.headers["x-tiergate-simulator"] == "flagship"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b""])
async def test_a_body_that_is_not_a_json_object_is_a_400(
    client: httpx.AsyncClient, content: bytes
) -> None:
    response = await client.post(OPENAI, content=content)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


async def test_mai_endpoint_answers_in_mai_shape(client: httpx.AsyncClient) -> None:
    response = await client.post(
        MAI,
        json={"model": "MAI-Image-2", "prompt": PROMPT, "width": 1024, "height": 768},
        headers={"api-key": "sim"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-tiergate-simulator"] == "flagship"
    body = response.json()
    assert len(body["data"]) == 1
    image = decode_b64_png(body["data"][0]["b64_json"])
    assert image.width > image.height
    assert body["usage"] == {
        "num_input_text_tokens": text_tokens(PROMPT),
        "num_input_image_tokens": 0,
        "output_image_tokens": 792,  # 1056 scaled by 1024x768 / 1024x1024
        "num_output_tokens": 792,
    }


async def test_mai_defaults_to_1024_square(client: httpx.AsyncClient) -> None:
    response = await client.post(MAI, json={"prompt": PROMPT})
    assert response.json()["usage"]["num_output_tokens"] == 1056


@pytest.mark.parametrize(
    ("size", "param"),
    [({"width": 512, "height": 1024}, "width"), ({"width": 1536, "height": 1024}, None)],
)
async def test_mai_enforces_its_size_limits(
    client: httpx.AsyncClient, size: dict[str, int], param: str | None
) -> None:
    response = await client.post(MAI, json={"prompt": PROMPT, **size})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


async def test_zero_latency_answers_promptly(client: httpx.AsyncClient) -> None:
    started = time.perf_counter()
    for _ in range(20):
        await _generate(client, prompt=f"prompt {_}")
    assert time.perf_counter() - started < 2.0


async def test_zero_latency_never_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_waiting(*args: object) -> bool:
        raise AssertionError("a zero-latency simulator must not wait")

    monkeypatch.setattr(images_module, "wait_unless_disconnected", no_waiting)
    app = create_simulator_app(SimulatorConfig(latency_scale=0))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        response = await client.post(OPENAI, json={"prompt": PROMPT})
    assert response.status_code == 200


async def test_latency_follows_the_profile_and_scale() -> None:
    config = SimulatorConfig(profile="efficient", latency_scale=0.02, latency_seed=3)
    with running_simulator(config) as sim:
        async with httpx.AsyncClient(base_url=sim.base_url) as client:
            started = time.perf_counter()
            response = await client.post(OPENAI, json={"prompt": PROMPT})
            elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert response.headers["x-tiergate-simulator"] == "efficient"
    assert 0.05 < elapsed < 1.0  # median 7 s x 0.02 = 0.14 s


async def test_api_key_is_enforced_when_configured() -> None:
    with running_simulator(SimulatorConfig(latency_scale=0, api_key="sk-right")) as sim:
        async with httpx.AsyncClient(base_url=sim.base_url) as client:
            wrong = await client.post(
                OPENAI, json={"prompt": PROMPT}, headers={"authorization": "Bearer sk-wrong"}
            )
            bearer = await client.post(
                OPENAI, json={"prompt": PROMPT}, headers={"authorization": "Bearer sk-right"}
            )
            api_key = await client.post(
                MAI, json={"prompt": PROMPT}, headers={"api-key": "sk-right"}
            )
            stats = (await client.get("/admin/stats")).json()
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    assert (bearer.status_code, api_key.status_code) == (200, 200)
    assert stats["by_outcome"] == {"unauthorized": 1, "ok": 2}


def test_simulator_fixture_is_a_running_simulator(simulator: RunningSimulator) -> None:
    assert simulator.openai_base_url == f"http://127.0.0.1:{simulator.port}/v1"
