"""The official MCP client against /mcp on a real `tiergate serve`, and `tiergate mcp` (stdio)."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
import yaml
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from gateway.budget import open_store
from tests.conftest import ADMIN_KEY, TEAM_KEYS, policy_dict, write_policy
from tests.support import REDIS_URL, Server, gateway, require_redis

pytestmark = [pytest.mark.redis, pytest.mark.slow]

PNG = b"\x89PNG\r\n\x1a\n"
TOOLS = {"generate_image", "explain_route", "get_budget", "submit_batch", "get_batch"}


@pytest.fixture
def served(tmp_path: Path, sim_env: dict[str, str]) -> Iterator[tuple[Server, str]]:
    require_redis()
    raw = policy_dict(
        alpha={"budgets": [{"period": "day", "limit_usd": 10}]},
        beta={"budgets": [{"period": "day", "limit_usd": 0.01}]},
    )
    raw["teams"]["beta"].pop("allowed_tiers", None)
    prefix = "tgmcp-" + uuid.uuid4().hex[:8]
    env = {
        **sim_env,
        "TIERGATE_STORE": REDIS_URL,
        "TIERGATE_STORE_KEY_PREFIX": prefix,
        "TIERGATE_BLOB_STORE": f"file://{tmp_path}/blobs",
        "TIERGATE_BATCH_IN_PROCESS_WORKER": "true",
        "TIERGATE_JOURNAL_DIR": str(tmp_path / "journal"),
    }
    with gateway(write_policy(tmp_path, yaml.safe_dump(raw)), env=env) as server:
        yield server, prefix


@asynccontextmanager
async def session(url: str, key: str | None) -> AsyncIterator[ClientSession]:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        streamable_http_client(url + "/mcp", http_client=http) as streams,
        ClientSession(streams[0], streams[1]) as client,
    ):
        await client.initialize()
        yield client


def texts(result: Any) -> list[str]:
    return [c.text for c in result.content if c.type == "text"]


def day_window(url: str, team: str) -> dict[str, Any]:
    budget = httpx.get(
        url + "/v1/budget", headers={"authorization": f"Bearer {TEAM_KEYS[team]}"}
    ).json()
    return next(w for w in budget["windows"] if w["period"] == "day")  # type: ignore[no-any-return]


def ledger(prefix: str, team: str) -> list[dict[str, str]]:
    async def read() -> list[dict[str, str]]:
        store = open_store(REDIS_URL, key_prefix=prefix)
        try:
            return [f for _, f in await store.ledger_events(team, 1000)]
        finally:
            await store.close()

    return asyncio.run(read())


async def test_tools_over_http_charge_exactly_what_they_say(served: tuple[Server, str]) -> None:
    server, prefix = served
    async with session(server.url, TEAM_KEYS["alpha"]) as client:
        listed = await client.list_tools()
        assert {t.name for t in listed.tools} == TOOLS
        generate = next(t for t in listed.tools if t.name == "generate_image")
        assert "prompt" in generate.input_schema["required"]
        assert generate.description and "budget" in generate.description

        explained = await client.call_tool(
            "explain_route", {"prompt": "A photorealistic portrait of a fisherman, 85mm"}
        )
        route = json.loads(texts(explained)[0])
        assert route["tier"] == "flagship" and float(route["estimated_cost_usd"]) > 0
        await asyncio.to_thread(lambda: None)
        assert day_window(server.url, "alpha")["spent_micros"] == 0  # explaining is free
        assert await asyncio.to_thread(ledger, prefix, "alpha") == []

        made = await client.call_tool("generate_image", {"prompt": "a flat icon of a paper plane"})
        assert not made.is_error
        (image,) = [c for c in made.content if c.type == "image"]
        assert image.mime_type == "image/png"
        assert base64.b64decode(image.data).startswith(PNG)
        summary = json.loads(texts(made)[-1])
        assert summary["tier"] == "efficient"
        cost_micros = round(float(summary["cost_usd"]) * 1_000_000)
        window = await asyncio.to_thread(day_window, server.url, "alpha")
        assert window["spent_micros"] == cost_micros and window["reserved_micros"] == 0
        entries = await asyncio.to_thread(ledger, prefix, "alpha")
        assert [int(e["cost_micros"]) for e in entries] == [cost_micros]

        budget = json.loads(texts(await client.call_tool("get_budget", {}))[0])
        assert budget["team"] == "alpha"
        assert budget["windows"][0]["spent_usd"] == pytest.approx(cost_micros / 1e6)

        submitted = json.loads(
            texts(
                await client.call_tool(
                    "submit_batch",
                    {
                        "requests": [
                            {"custom_id": f"b{i}", "prompt": f"an icon {i}"} for i in range(3)
                        ]
                    },
                )
            )[0]
        )
        for _ in range(100):
            batch = json.loads(
                texts(await client.call_tool("get_batch", {"batch_id": submitted["id"]}))[0]
            )
            if batch["status"] == "completed":
                break
            await asyncio.sleep(0.1)
        assert batch["status"] == "completed" and batch["request_counts"]["completed"] == 3


async def test_a_wrong_or_missing_key_cannot_list_or_call(served: tuple[Server, str]) -> None:
    server, _ = served
    for key in (None, "tg-not-a-key", ADMIN_KEY):
        with pytest.raises(Exception):  # noqa: B017 - the transport refuses, whatever its type
            async with session(server.url, key) as client:
                await client.list_tools()
    refused = await asyncio.to_thread(
        httpx.post,
        server.url + "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"accept": "application/json, text/event-stream"},
    )
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "missing_api_key"
    admin = await asyncio.to_thread(
        httpx.post,
        server.url + "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"authorization": f"Bearer {ADMIN_KEY}"},
    )
    assert admin.status_code == 403


async def test_each_key_sees_its_own_team_and_a_spent_budget_is_a_tool_error(
    served: tuple[Server, str],
) -> None:
    server, _ = served
    async with session(server.url, TEAM_KEYS["beta"]) as client:
        budget = json.loads(texts(await client.call_tool("get_budget", {}))[0])
        assert budget["team"] == "beta" and budget["windows"][0]["limit_usd"] == 0.01
        refused = await client.call_tool(
            "generate_image", {"prompt": "A photorealistic portrait of a fisherman, 85mm"}
        )
        assert refused.is_error
        (message,) = texts(refused)
        assert "429" in message and "budget is spent" in message
        assert "resets at" in message and "T00:00:00Z" in message
        missing = await client.call_tool("get_batch", {"batch_id": "batch_nope"})
        assert missing.is_error and "404" in texts(missing)[0]


async def test_tiergate_mcp_over_stdio(served: tuple[Server, str]) -> None:
    server, _ = served
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "gateway.cli", "mcp", "--base-url", server.url + "/v1"],
        env={"TIERGATE_API_KEY": TEAM_KEYS["alpha"], "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    )
    async with stdio_client(params) as streams, ClientSession(streams[0], streams[1]) as client:
        await client.initialize()
        assert {t.name for t in (await client.list_tools()).tools} == TOOLS
        made = await client.call_tool("generate_image", {"prompt": "a flat icon of a kite"})
        assert not made.is_error
        (image,) = [c for c in made.content if c.type == "image"]
        assert base64.b64decode(image.data).startswith(PNG)
        budget = json.loads(texts(await client.call_tool("get_budget", {}))[0])
        assert budget["team"] == "alpha" and budget["windows"][0]["spent_usd"] > 0


def test_previews_are_scaled_down_to_fit_an_agents_context() -> None:
    import io

    from PIL import Image as PILImage

    from gateway.mcp.tools import preview_png

    out = io.BytesIO()
    PILImage.new("RGB", (1536, 1024), (200, 30, 30)).save(out, format="PNG")
    small = preview_png(out.getvalue(), 512)
    with PILImage.open(io.BytesIO(small)) as image:
        assert image.size == (512, 341) and image.format == "PNG"
    assert preview_png(out.getvalue(), 0) == out.getvalue()
    assert preview_png(small, 1024) == small
