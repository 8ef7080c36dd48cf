"""The simulator's ASGI edge: the profile header, dropped connections, disconnect-aware waits."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final, Protocol, runtime_checkable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROFILE_HEADER: Final = "x-tiergate-simulator"
_SERVER_SEND_KEY: Final = "tiergate.simulator.server_send"


@runtime_checkable
class _AbortableTransport(Protocol):
    def abort(self) -> None: ...


class ConnectionDropUnsupportedError(RuntimeError):
    """The server's transport is out of reach (not uvicorn), so a drop cannot be simulated."""


class SimulatorEdge:
    """Outermost ASGI layer: adds ``x-tiergate-simulator: <profile>`` to every response and
    keeps the server's own ``send`` in the scope so :func:`drop_connection` can find the socket.
    """

    def __init__(self, app: ASGIApp, profile: str) -> None:
        self._app = app
        self._header = (PROFILE_HEADER.encode("latin-1"), profile.encode("latin-1"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        scope[_SERVER_SEND_KEY] = send
        header = self._header

        async def send_tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        await self._app(scope, receive, send_tagged)


async def drop_connection(scope: Scope, receive: Receive) -> None:
    """Abort the TCP connection without a byte of response, as a crashed vendor would.

    ASGI has no "abort"; under uvicorn, ``send`` is a method of the request cycle that owns
    the transport. After aborting, wait for uvicorn to notice the disconnect so that it
    does not send its own 500 for an app that returned without responding.
    """
    server_send = scope.get(_SERVER_SEND_KEY)
    transport = getattr(getattr(server_send, "__self__", None), "transport", None)
    if not isinstance(transport, _AbortableTransport):
        raise ConnectionDropUnsupportedError(
            "cannot drop the connection: the server's transport is not reachable "
            "(the reset fault needs uvicorn)"
        )
    transport.abort()
    while (await receive())["type"] != "http.disconnect":
        pass


async def wait_unless_disconnected(receive: Receive, seconds: float) -> bool:
    """Sleep ``seconds``, ending early if the client goes away; True if it went away.

    Call only after the request body has been read: from then on ``receive`` yields
    nothing but ``http.disconnect``.
    """
    watcher = asyncio.ensure_future(_until_disconnect(receive))
    try:
        done, _ = await asyncio.wait({watcher}, timeout=seconds)
    finally:
        if not watcher.done():
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
    return watcher in done


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
