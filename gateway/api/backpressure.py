"""Refusing image requests a worker cannot carry, at once and in the OpenAI error shape.

Image calls take seconds, so a worker holds thousands at once. Two things bound what it can
carry, and ``InFlightLimit`` refuses a new request on the routes that call a model tier,
before its body is read, with 503 ``server_overloaded`` and ``Retry-After`` (which the
official SDKs honour) when either is reached:

* **requests in flight** (``max_in_flight``): each holds two sockets, a reservation and, on
  the way back, an image; the cap bounds descriptors and memory;
* **event-loop lag** (``max_loop_lag_ms``): how late the loop runs a timer, measured by
  ``LoopLagMonitor``. Past what the worker's CPU can serve, queued work would otherwise make
  every request slower, including the ones already admitted, until budget-store calls time
  out and answered calls miss their deadlines. Refusing new work keeps the admitted work fast.

A refused request never reaches the budget store: nothing is reserved, nothing is charged.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.api.errors_asgi import send_error
from gateway.errors import Overloaded

#: Routes whose requests wait on a model tier: the ones the limit counts.
LIMITED_PREFIXES = ("/v1/images/generations", "/v1/images/edits", "/openai/deployments/")
LAG_SAMPLE_SECONDS = 0.05


class LoopLagMonitor:
    """How late this event loop runs a timer, sampled every ``LAG_SAMPLE_SECONDS``.

    ``lag_seconds`` jumps up to a late sample at once and decays over a few samples, so one
    slow sample refuses requests for about a quarter of a second, not for one sample only.
    """

    def __init__(self) -> None:
        self.lag_seconds = 0.0

    def observe(self, lag_seconds: float) -> None:
        lag_seconds = max(0.0, lag_seconds)
        if lag_seconds >= self.lag_seconds:
            self.lag_seconds = lag_seconds
        else:
            self.lag_seconds = 0.7 * self.lag_seconds + 0.3 * lag_seconds

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            started = loop.time()
            await asyncio.sleep(LAG_SAMPLE_SECONDS)
            self.observe(loop.time() - started - LAG_SAMPLE_SECONDS)


class WorkerLoad:
    """What ``/metrics`` reads of this worker's load: requests in flight, refusals, lag."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.refused = {"in_flight": 0, "loop_lag": 0}
        self.monitor = LoopLagMonitor()


class InFlightLimit:
    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        max_lag_ms: float,
        retry_after_seconds: int,
        load: WorkerLoad,
    ) -> None:
        self.app = app
        self.limit = limit
        self.max_lag_seconds = max_lag_ms / 1000
        self.retry_after = str(retry_after_seconds)
        self.load = load

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not scope["path"].startswith(LIMITED_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        load = self.load
        if load.in_flight >= self.limit:
            await self._refuse(
                send, "in_flight", f"it holds its limit of {self.limit} requests in flight"
            )
            return
        if load.monitor.lag_seconds > self.max_lag_seconds:
            lag_ms = round(load.monitor.lag_seconds * 1000)
            await self._refuse(send, "loop_lag", f"it is {lag_ms} ms behind on its work")
            return
        load.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            load.in_flight -= 1

    async def _refuse(self, send: Send, reason: str, why: str) -> None:
        self.load.refused[reason] += 1
        error = Overloaded(
            f"This gateway worker is overloaded: {why}. Retry after {self.retry_after} s.",
            headers={"retry-after": self.retry_after},
        )
        await send_error(send, error)
