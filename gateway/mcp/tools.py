"""The MCP server and its tools, written for a model to read.

Tools: ``generate_image``, ``explain_route``, ``get_budget``, ``submit_batch``,
``get_batch``. Each is one or two REST calls (``gateway.mcp.api``); a refused call comes
back as a tool error whose text is the OpenAI error message, plus, for a spent budget,
when the budget resets.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

import httpx
from mcp.server.mcpserver import Context, Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from gateway.mcp.api import Api

ApiFor = Callable[[Context], Awaitable[Api]]

#: Longest side of the images a tool returns, unless the caller asks otherwise: a 1024x1024
#: PNG is 1-2 MB of base64, more than an agent's context should take for a look at it.
DEFAULT_PREVIEW_MAX_SIDE = 512

INSTRUCTIONS = """\
tiergate generates images on the cheapest model tier that can do the prompt well and keeps
your team inside its budget. Call explain_route first when cost matters: it says which tier
a prompt would use, why, and what it would cost, without charging anything. generate_image
returns the image(s) and what they cost. get_budget tells how much of the team's budget is
left. For many images at once, submit_batch runs them in the background inside the budget;
poll get_batch."""

Tier = Literal["auto", "efficient", "flagship"]
Size = Literal["auto", "1024x1024", "1024x1536", "1536x1024"]
Quality = Literal["auto", "low", "medium", "high"]


def preview_png(png: bytes, max_side: int) -> bytes:
    """``png`` scaled down so its longest side is at most ``max_side`` (0: as is)."""
    if max_side <= 0:
        return png
    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(png)) as image:
        if max(image.size) <= max_side:
            return png
        image.thumbnail((max_side, max_side))
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=True)
        return out.getvalue()


_BLOCKING = re.compile(r"budget:(day|month):")


def reset_time(message: str, now: datetime) -> str | None:
    """When the budget window a ``budget_exceeded`` message names starts over (UTC)."""
    match = _BLOCKING.search(message)
    if match is None:
        return None
    today = now.astimezone(UTC).date()
    if match.group(1) == "day":
        starts = today + timedelta(days=1)
    else:
        starts = date(today.year + today.month // 12, today.month % 12 + 1, 1)
    return f"{starts.isoformat()}T00:00:00Z"


def checked(response: httpx.Response) -> Any:
    """The JSON body of a 2xx answer; otherwise a ToolError with the OpenAI message."""
    if response.status_code < 400:
        return response.json()
    try:
        error = response.json()["error"]
        message, kind = str(error["message"]), error.get("type")
    except (ValueError, KeyError, TypeError):
        message, kind = response.text[:500] or f"HTTP {response.status_code}", None
    if kind == "insufficient_quota":
        resets = reset_time(message, datetime.now(UTC))
        message = "The team's budget is spent: " + message
        if resets is not None:
            message += f" The budget resets at {resets}."
    elif response.status_code == 429 and "retry-after" in response.headers:
        message += f" Retry after {response.headers['retry-after']} s."
    raise ToolError(f"{response.status_code}: {message}")


def build_server(api_for: ApiFor) -> MCPServer:
    server = MCPServer("tiergate", instructions=INSTRUCTIONS, version="0.1.0")

    @server.tool(
        description="Generate image(s) from a text prompt. tier 'auto' (default) lets tiergate "
        "pick the cheapest tier that renders the prompt well (photorealism, anime and long text "
        "go to the flagship tier; headlines, mockups and ordinary scenes to the cheaper "
        "efficient tier). Returns the image(s) as PNG, scaled down to preview_max_side pixels "
        "(0 = full size, which can be megabytes), then a JSON text with the tier, the routing "
        "reasons and the cost in USD. Charges the team's budget.",
        annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=True),
        structured_output=False,
    )
    async def generate_image(
        ctx: Context,
        prompt: Annotated[str, Field(description="What to draw; quote any text to render.")],
        size: Size = "auto",
        quality: Quality = "auto",
        tier: Tier = "auto",
        n: Annotated[int, Field(ge=1, le=4, description="How many images.")] = 1,
        preview_max_side: Annotated[
            int, Field(ge=0, le=4096, description="Longest side of returned images; 0 = full.")
        ] = DEFAULT_PREVIEW_MAX_SIDE,
    ) -> list[Any]:
        api = await api_for(ctx)
        response = await api.request(
            "POST",
            "/images/generations",
            json={"model": tier, "prompt": prompt, "size": size, "quality": quality, "n": n},
        )
        body = checked(response)
        images = [base64.b64decode(d["b64_json"]) for d in body["data"]]
        summary = {
            "tier": response.headers.get("x-tiergate-tier"),
            "model": response.headers.get("x-tiergate-model"),
            "cost_usd": response.headers.get("x-tiergate-cost-usd"),
            "reasons": (response.headers.get("x-tiergate-route-reason") or "").split(","),
            "request_id": response.headers.get("x-tiergate-request-id"),
            "images": len(images),
        }
        if "x-tiergate-verify" in response.headers:
            summary["verify"] = response.headers["x-tiergate-verify"]
        return [
            *(Image(data=preview_png(png, preview_max_side), format="png") for png in images),
            json.dumps(summary),
        ]

    @server.tool(
        description="Say which tier a prompt would be generated on, why (categories, reason "
        "codes) and the most it would cost, without generating anything or charging the "
        "budget. Use it to decide before spending.",
        annotations=ToolAnnotations(readOnlyHint=True, idempotentHint=True),
        structured_output=False,
    )
    async def explain_route(
        ctx: Context,
        prompt: str,
        size: Size = "auto",
        quality: Quality = "auto",
        tier: Tier = "auto",
    ) -> str:
        api = await api_for(ctx)
        explained = checked(
            await api.request(
                "POST",
                "/route/explain",
                json={"model": tier, "prompt": prompt, "size": size, "quality": quality},
            )
        )
        return json.dumps(
            {
                "tier": explained["decision"]["tier"],
                "categories": explained["classification"]["categories"],
                "reasons": explained["decision"]["reasons"],
                "estimated_cost_usd": explained["estimate"]["cost_usd"],
                "text_spans": [s["text"] for s in explained["classification"]["text_spans"]],
            }
        )

    @server.tool(
        description="The calling team's budget: per day and month window the limit, spent, "
        "held by requests in flight and remaining (USD), whether a soft or hard limit is "
        "reached, and the rate limits with what is left of them.",
        annotations=ToolAnnotations(readOnlyHint=True, idempotentHint=True),
        structured_output=False,
    )
    async def get_budget(ctx: Context) -> str:
        api = await api_for(ctx)
        budget = checked(await api.request("GET", "/budget"))
        return json.dumps(
            {
                "team": budget["team"],
                "windows": [
                    {
                        k: w[k]
                        for k in (
                            "period",
                            "bucket",
                            "limit_usd",
                            "spent_usd",
                            "reserved_usd",
                            "remaining_usd",
                            "state",
                        )
                    }
                    for w in budget["windows"]
                ],
                "rate_limits": budget["rate_limits"],
            }
        )

    @server.tool(
        description="Queue many image generations as one background batch, run inside the "
        "team's budget (items wait rather than overspend). Each request needs a unique "
        "custom_id and a prompt. Returns the batch id and status; poll get_batch.",
        annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False),
        structured_output=False,
    )
    async def submit_batch(
        ctx: Context,
        requests: Annotated[
            list[dict[str, Any]],
            Field(
                min_length=1,
                max_length=50_000,
                description='Items like {"custom_id": "hero-1", "prompt": "...", "size": '
                '"1024x1024", "quality": "auto", "tier": "auto"}.',
            ),
        ],
        completion_window: str = "24h",
        max_spend_usd: Annotated[
            str | None, Field(description="Stop admitting items past this spend.")
        ] = None,
    ) -> str:
        lines = []
        for item in requests:
            body = {k: v for k, v in item.items() if k in ("prompt", "size", "quality", "n")}
            body["model"] = item.get("tier", "auto")
            lines.append(
                json.dumps(
                    {
                        "custom_id": str(item.get("custom_id", "")),
                        "method": "POST",
                        "url": "/v1/images/generations",
                        "body": body,
                    }
                )
            )
        api = await api_for(ctx)
        uploaded = checked(
            await api.request(
                "POST",
                "/files",
                files={"file": ("mcp-batch.jsonl", "\n".join(lines).encode())},
                data={"purpose": "batch"},
            )
        )
        create: dict[str, Any] = {
            "input_file_id": uploaded["id"],
            "endpoint": "/v1/images/generations",
            "completion_window": completion_window,
        }
        if max_spend_usd is not None:
            create["metadata"] = {"max_spend_usd": max_spend_usd}
        batch = checked(await api.request("POST", "/batches", json=create))
        return json.dumps(_batch_summary(batch))

    @server.tool(
        description="A batch's status (validating, in_progress, finalizing, completed, failed, "
        "cancelling, cancelled, expired), its request counts and its spend so far.",
        annotations=ToolAnnotations(readOnlyHint=True, idempotentHint=True),
        structured_output=False,
    )
    async def get_batch(ctx: Context, batch_id: str) -> str:
        api = await api_for(ctx)
        return json.dumps(_batch_summary(checked(await api.request("GET", f"/batches/{batch_id}"))))

    return server


def _batch_summary(batch: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "status", "request_counts", "spend_usd", "output_file_id", "error_file_id")
    return {k: batch.get(k) for k in keys}
