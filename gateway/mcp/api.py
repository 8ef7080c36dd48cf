"""How the MCP tools reach tiergate: its own REST API, in the process or over the network.

Every tool is a client of the REST API, so a tool call takes exactly the request path a
REST call takes (authentication, classification, budgets, ledger, batches): ``/mcp`` sends
it to the same app in process (httpx's ASGI transport, the caller's key forwarded);
``tiergate mcp`` sends it to a gateway over HTTP with ``TIERGATE_API_KEY``.
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx
from starlette.types import ASGIApp


class Api(Protocol):
    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        files: Any = None,
        data: Any = None,
    ) -> httpx.Response: ...


class HttpApi:
    """The REST API at ``base_url`` (``…/v1``), authenticated by ``authorization``."""

    def __init__(
        self,
        base_url: str,
        authorization: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_seconds: float = 600.0,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"authorization": authorization},
            transport=transport,
            timeout=httpx.Timeout(timeout_seconds, connect=10.0),
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        files: Any = None,
        data: Any = None,
    ) -> httpx.Response:
        return await self._client.request(method, path, json=json, files=files, data=data)

    async def aclose(self) -> None:
        await self._client.aclose()


def in_process_api(app: ASGIApp, authorization: str) -> HttpApi:
    """The app's own REST API, called in this process with the MCP caller's key."""
    return HttpApi(
        "http://tiergate.internal/v1", authorization, transport=httpx.ASGITransport(app=app)
    )
