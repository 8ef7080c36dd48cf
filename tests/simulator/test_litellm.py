"""litellm itself against the simulator, over HTTP, the way the gateway calls the vendors."""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import httpx
import litellm
import pytest
from litellm.exceptions import InternalServerError

from gateway.simulator import RunningSimulator
from gateway.simulator.tokens import text_tokens
from tests.simulator.png_reader import decode_b64_png

PROMPT = "an isometric illustration of a tiny bakery"

# litellm builds pydantic adapters for ReadOnly TypedDicts lazily; pydantic warns about them.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Items? .* using the `ReadOnly` qualifier:UserWarning"
)


async def test_openai_provider_gets_the_image_and_usage(
    simulator: RunningSimulator, client: httpx.AsyncClient
) -> None:
    response = await litellm.aimage_generation(
        model="openai/gpt-image-1",
        prompt=PROMPT,
        api_base=simulator.openai_base_url,
        api_key="sk-sim",
        size="1024x1024",
        quality="medium",
        max_retries=0,
    )
    assert decode_b64_png(response.data[0].b64_json).width == 64
    assert response.usage.input_tokens == text_tokens(PROMPT)
    assert response.usage.output_tokens == 1056
    assert response.usage.total_tokens == text_tokens(PROMPT) + 1056
    stats = (await client.get("/admin/stats")).json()
    assert stats["by_endpoint"] == {"/v1/images/generations": 1}
    assert stats["by_model"] == {"gpt-image-1": 1}


async def test_mai_provider_hits_the_mai_endpoint_and_litellm_normalises_usage(
    simulator: RunningSimulator, client: httpx.AsyncClient
) -> None:
    response = await litellm.aimage_generation(
        model="azure_ai/MAI-Image-2",
        prompt=PROMPT,
        api_base=simulator.base_url,
        api_key="sim",
    )
    assert decode_b64_png(response.data[0].b64_json).width == 64
    assert response.size == "1024x1024"
    assert response.usage.output_tokens == 1056  # the table's medium 1024x1024 figure
    assert response.usage.input_tokens == text_tokens(PROMPT)
    assert response.usage.total_tokens == text_tokens(PROMPT) + 1056
    stats = (await client.get("/admin/stats")).json()
    assert stats["by_endpoint"] == {"/mai/v1/images/generations": 1}
    assert stats["by_model"] == {"MAI-Image-2": 1}


async def test_mai_efficient_with_a_size(
    simulator: RunningSimulator, client: httpx.AsyncClient
) -> None:
    response = await litellm.aimage_generation(
        model="azure_ai/MAI-Image-2-Efficient",
        prompt=PROMPT,
        api_base=simulator.base_url,
        api_key="sim",
        size="1024x768",
    )
    assert response.usage.output_tokens == 792
    assert (await client.get("/admin/stats")).json()["by_model"] == {"MAI-Image-2-Efficient": 1}


async def test_an_injected_500_reaches_litellm_as_one_call(
    simulator: RunningSimulator, client: httpx.AsyncClient
) -> None:
    (await client.put("/admin/faults", json={"fail_next": 1})).raise_for_status()
    with pytest.raises(InternalServerError):
        await litellm.aimage_generation(
            model="azure_ai/MAI-Image-2", prompt=PROMPT, api_base=simulator.base_url, api_key="k"
        )
    assert (await client.get("/admin/stats")).json()["requests_total"] == 1


async def test_openai_provider_retries_unless_max_retries_is_zero(
    simulator: RunningSimulator, client: httpx.AsyncClient
) -> None:
    """The openai SDK under litellm retries 5xx by itself; the gateway must pass max_retries=0."""
    (await client.put("/admin/faults", json={"fail_next": 1})).raise_for_status()
    with pytest.raises(InternalServerError):
        await litellm.aimage_generation(
            model="openai/gpt-image-1",
            prompt=PROMPT,
            api_base=simulator.openai_base_url,
            api_key="k",
            max_retries=0,
        )
    assert (await client.get("/admin/stats")).json()["requests_total"] == 1
