"""``/mcp``: the MCP streamable HTTP transport on the gateway, behind the team key.

A request without a valid team key never reaches the MCP session: it is answered 401 (or
403 for an admin key) in the OpenAI error shape, so a wrong key cannot list or call tools.
The transport is stateless (each POST carries its own key and is one exchange), so any
replica answers any call. DNS-rebinding protection is off: it guards unauthenticated
local servers, and every call here carries a bearer key.
"""

from __future__ import annotations

import asyncio

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import Receive, Scope, Send

from gateway.api.state import AppState
from gateway.errors import GatewayError, PermissionDenied
from gateway.mcp.api import Api, in_process_api
from gateway.mcp.tools import build_server

PATH = "/mcp"


async def api_for_request(ctx: Context) -> Api:
    """The REST API in this process, as the caller of this MCP request."""
    request = ctx.request_context.request
    if request is None:  # pragma: no cover - the HTTP transport always attaches it
        raise RuntimeError("an MCP call over HTTP without its HTTP request")
    return in_process_api(request.scope["app"], request.headers.get("authorization", ""))


class McpEndpoint:
    """The ASGI endpoint at ``/mcp``: authenticate, then hand over to the MCP transport."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.server: MCPServer = build_server(api_for_request)
        # Creates the session manager the endpoint hands requests to (its app is not used).
        self.server.streamable_http_app(
            streamable_http_path=PATH,
            stateless_http=True,
            json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )

        self._ready = asyncio.Event()

    async def serve(self, stop: asyncio.Event) -> None:
        """Run the MCP session manager until ``stop`` (in a task of its own: its anyio task
        group must be left by the task that entered it)."""
        async with self.server.session_manager.run():
            self._ready.set()
            await stop.wait()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            principal = self.state.keyring.authenticate(headers.get("authorization"))
            if principal.team is None:
                raise PermissionDenied("MCP tools act for a team; use a team key.")
        except GatewayError as exc:
            from gateway.api.responses import JSONBytesResponse

            response = JSONBytesResponse(
                exc.to_body(), status_code=exc.status_code, headers=exc.headers
            )
            await response(scope, receive, send)
            return
        await asyncio.wait_for(self._ready.wait(), 10)
        await self.server.session_manager.handle_request(scope, receive, send)
