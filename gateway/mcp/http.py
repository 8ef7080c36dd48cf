"""``/mcp``: the MCP streamable HTTP transport on the gateway, behind the team key.

A request without a valid team key never reaches the MCP session: it is answered 401 (or
403 for an admin key) in the OpenAI error shape, so a wrong key cannot list or call tools.
The transport is stateless (each POST carries its own key and is one exchange), so any
replica answers any call. DNS-rebinding protection is off: it guards unauthenticated
local servers, and every call here carries a bearer key.

The MCP SDK (about 0.4 s and 50 MiB to import) is loaded on the first authenticated
``/mcp`` request, so a gateway that no agent talks to never pays for it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from starlette.types import Receive, Scope, Send

from gateway.api.state import AppState
from gateway.errors import GatewayError, PermissionDenied

if TYPE_CHECKING:
    from mcp.server.mcpserver import Context, MCPServer

    from gateway.mcp.api import Api

PATH = "/mcp"


async def api_for_request(ctx: Context) -> Api:
    """The REST API in this process, as the caller of this MCP request."""
    from gateway.mcp.api import in_process_api

    request = ctx.request_context.request
    if request is None:  # pragma: no cover - the HTTP transport always attaches it
        raise RuntimeError("an MCP call over HTTP without its HTTP request")
    return in_process_api(request.scope["app"], request.headers.get("authorization", ""))


class McpEndpoint:
    """The ASGI endpoint at ``/mcp``: authenticate, then hand over to the MCP transport."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self._server: MCPServer | None = None
        self._ready = asyncio.Event()
        self._stop: asyncio.Event | None = None
        self._runner: asyncio.Task[None] | None = None

    async def serve(self, stop: asyncio.Event) -> None:
        """Lifespan task: hold ``stop`` for the session manager started on first use, and
        wait for that manager to finish once the app stops."""
        self._stop = stop
        await stop.wait()
        if self._runner is not None:
            await self._runner

    def _start(self) -> MCPServer:
        from mcp.server.transport_security import TransportSecuritySettings

        from gateway.mcp.tools import build_server

        server = build_server(api_for_request)
        # Creates the session manager requests go to (the Starlette app it returns is not used).
        server.streamable_http_app(
            streamable_http_path=PATH,
            stateless_http=True,
            json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        stop = self._stop or asyncio.Event()

        async def run() -> None:
            # In a task of its own: its anyio task group is left by the task that entered it.
            async with server.session_manager.run():
                self._ready.set()
                await stop.wait()

        self._runner = asyncio.create_task(run(), name="mcp-sessions")
        self._server = server
        return server

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
        server: Any = self._server or self._start()
        await asyncio.wait_for(self._ready.wait(), 10)
        await server.session_manager.handle_request(scope, receive, send)
