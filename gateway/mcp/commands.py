"""``tiergate mcp``: the same tools over stdio, for a local agent, against a gateway's REST API."""

from __future__ import annotations

import argparse
import os
import sys

import anyio


def add_mcp_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base-url",
        default=os.environ.get("TIERGATE_BASE_URL", "http://127.0.0.1:8080/v1"),
        help="the gateway's /v1 URL (default $TIERGATE_BASE_URL or http://127.0.0.1:8080/v1)",
    )


def mcp_command(args: argparse.Namespace) -> int:
    key = os.environ.get("TIERGATE_API_KEY")
    if not key:
        print("tiergate mcp: set TIERGATE_API_KEY to a team key", file=sys.stderr)
        return 2
    from mcp.server.mcpserver import Context

    from gateway.mcp.api import Api, HttpApi
    from gateway.mcp.tools import build_server

    api = HttpApi(args.base_url, f"Bearer {key}")

    async def api_for(ctx: Context) -> Api:
        return api

    async def serve() -> None:
        try:
            await build_server(api_for).run_stdio_async()
        finally:
            await api.aclose()

    # stdout carries the protocol: nothing else may print there.
    anyio.run(serve)
    return 0
