"""litellm's azure_ai/MAI-Image-… provider, through the gateway, against the simulator's MAI endpoint."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.conftest import TEAM_KEYS
from tests.gateway_harness import gateway_client
from tests.support import Server

AUTH = {"Authorization": f"Bearer {TEAM_KEYS['demo']}"}


def mai_tiers(simulators: dict[str, Server]) -> Any:
    def mutate(raw: dict[str, Any]) -> None:
        for name, model in (
            ("efficient", "azure_ai/MAI-Image-2e"),
            ("flagship", "azure_ai/MAI-Image-2"),
        ):
            raw["tiers"][name].update(
                model=model,
                api_base=simulators[name].url,
                api_key="sim-key",
                api_version="preview",
                max_images=1,
                quality_param=False,
                image_tokens={"1024x1024": {"low": 1056, "medium": 1056, "high": 1056}},
            )

    return mutate


@pytest.mark.parametrize("upstream", ["litellm", "auto"])
async def test_mai_model_string_reaches_the_mai_endpoint(
    upstream: str, simulators: dict[str, Server], sim_env: dict[str, str]
) -> None:
    for server in simulators.values():
        httpx.post(server.url + "/admin/reset").raise_for_status()
    async with gateway_client(sim_env, mutate=mai_tiers(simulators), upstream=upstream) as (
        client,
        _,
    ):
        resp = await client.post(
            "/v1/images/generations",
            headers=AUTH,
            json={
                "model": "auto",
                "prompt": "a studio photograph of a ceramic vase, 85mm, softbox",
                "size": "1024x1024",
            },
        )
        assert resp.status_code == 200, resp.text
        assert resp.headers["x-tiergate-tier"] == "flagship"
        assert resp.headers["x-tiergate-model"] == "azure_ai/MAI-Image-2"
        body = resp.json()
        assert base64.b64decode(body["data"][0]["b64_json"])[:8] == b"\x89PNG\r\n\x1a\n"
        usage = body["usage"]
        assert usage["output_tokens"] == 1056
        expected = (
            Decimal(usage["input_tokens_details"]["text_tokens"]) * 5 + 1056 * 33
        ) / 1_000_000
        assert Decimal(resp.headers["x-tiergate-cost-usd"]) == expected.quantize(
            Decimal("0.000001")
        )
        stats = httpx.get(simulators["flagship"].url + "/admin/stats").json()
        assert stats["by_endpoint"] == {"/mai/v1/images/generations": 1}

        too_many = await client.post(
            "/v1/images/generations",
            headers=AUTH,
            json={"model": "flagship", "prompt": "a vase", "n": 2},
        )
        assert too_many.status_code == 400 and too_many.json()["error"]["param"] == "n"
        wrong_size = await client.post(
            "/v1/images/generations", headers=AUTH, json={"prompt": "a vase", "size": "1536x1024"}
        )
        assert wrong_size.status_code == 400 and wrong_size.json()["error"]["param"] == "size"
