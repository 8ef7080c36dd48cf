"""Refusing image requests a worker cannot carry, at once and in the OpenAI error shape.

Image calls take seconds, so a worker holds thousands at once. Two things bound what it can
carry, and ``InFlightLimit`` refuses a new request on the routes that call a model tier,
before its body is read, with 503 ``server_overloaded`` and ``Retry-After`` (which the
official SDKs honour) when either is reached:

* **requests in flight**: each holds two sockets, a reservation and, on the way back, an
  image. The limit is what the worker's CPU can carry (``CapacityEstimate``: Little's law
  from the CPU per request and the time a request is held, measured as it runs), never more
  than ``max_in_flight``, which bounds descriptors and memory;
* **event-loop lag** (``max_loop_lag_ms``): how late the loop runs a timer, measured by
  ``LoopLagMonitor``. Past what the worker's CPU can serve, queued work would otherwise make
  every request slower, including the ones already admitted, until budget-store calls time
  out and answered calls miss their deadlines. Refusing new work keeps the admitted work fast.

A refused request never reaches the budget store: nothing is reserved, nothing is charged.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.api.errors_asgi import send_error
from gateway.errors import Overloaded

#: Routes whose requests wait on a model tier: the ones the limit counts.
LIMITED_PREFIXES = ("/v1/images/generations", "/v1/images/edits", "/openai/deployments/")
LAG_SAMPLE_SECONDS = 0.05
#: Where a refusal leaves its capacity estimate in the scope's state, for its cost.
REFUSAL_KEY = "tiergate.refused_by"
log = structlog.get_logger("gateway.backpressure")


class LoopLagMonitor:
    """How late this event loop runs a timer, sampled every ``LAG_SAMPLE_SECONDS``.

    ``lag_seconds`` is the smallest of the last ``SUSTAINED_SAMPLES`` samples: lateness that
    lasts, the sign of a core that cannot keep up. One stall (a full garbage collection, a
    slow import, the machine's other work) is not overload and refuses nothing.
    """

    SUSTAINED_SAMPLES = 4

    def __init__(self) -> None:
        self.lag_seconds = 0.0
        self._recent: deque[float] = deque(maxlen=self.SUSTAINED_SAMPLES)

    def observe(self, lag_seconds: float) -> None:
        self._recent.append(max(0.0, lag_seconds))
        self.lag_seconds = min(self._recent) if len(self._recent) == self.SUSTAINED_SAMPLES else 0.0

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            started = loop.time()
            await asyncio.sleep(LAG_SAMPLE_SECONDS)
            self.observe(loop.time() - started - LAG_SAMPLE_SECONDS)


class CapacityEstimate:
    """How many requests this worker can hold, by Little's law, from what it measures.

    A worker's event loop runs on one core. If a request costs ``c`` CPU seconds (what the
    process spent per request answered, less what its refusals cost, which is measured
    per refusal) and is held ``w`` seconds, the worker can hold ``(target - r) x w / c``
    requests with its core ``target`` busy, ``r`` being the share of the core its refusals
    take (at most half the target). Past that,
    admitted requests share a saturated core, each takes longer, and the worker's throughput
    collapses rather than levels off (measured: 1.6 req/s at 5,000 in flight, where 1,000 gave
    136). The estimate needs ``MIN_SAMPLE`` answered requests to update; the limit starts at
    ``floor`` (``min_in_flight``) and stays between that and ``ceiling`` (``max_in_flight``).

    Slow start: the estimate is trusted once it has watched for one hold time after its
    first answers. Before that, a ramp's admissions are charged to its first few answers and
    the estimate is pessimistic (at its floor, a worker with an idle core refused hundreds of
    requests held 7 s). So until then the limit is the floor, doubled when a second refuses
    requests while the core stays under half its target, at most once a round trip (one hold
    time), as TCP's slow start does: most of a request's CPU comes with its answer (reading
    and sending the image), so an idle core says what the last doubling costs only one hold
    time later. Doubling every second, or letting such growth overrule a trusted estimate,
    took a worker at 5,000 in flight to twice its estimate and its added p99 from 0.8 s to
    2-3 s.
    """

    MIN_SAMPLE = 5
    SMOOTHING = 0.3
    MAX_RETRY_AFTER_SECONDS = 60  # the longest the OpenAI SDKs honour
    #: Sustained loop lag past which a second's CPU is what the machine gave, not what the
    #: worker wanted (see ``available_share``).
    STARVED_LAG_SECONDS = 0.1
    #: How fast ``available_share`` comes back once the loop keeps up, per second.
    SHARE_RECOVERY = 0.05
    MIN_SHARE = 0.25

    def __init__(
        self,
        ceiling: int,
        floor: int,
        target_utilisation: float,
        retry_after_seconds: int = 5,
        cpu_seconds: Callable[[], float] = time.process_time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ceiling = ceiling
        self.floor = min(floor, ceiling)
        self.target = target_utilisation
        # Slow start: until requests come back there is nothing to estimate from, and a
        # worker that admitted its ceiling blind would take the whole wave at once.
        self.limit = self.floor
        #: What Little's law gives from the measured cost and hold time (the floor until then).
        self.estimated_limit = self.floor
        self.cpu_per_request: float | None = None
        self.hold_seconds: float | None = None
        self._cpu_seconds = cpu_seconds
        self._last_cpu = cpu_seconds()
        self._done = 0
        self._held = 0.0
        self._primed = False
        self.base_retry_after = retry_after_seconds
        self.retry_after_seconds = float(retry_after_seconds)
        self._answered_tick = 0
        self._refused_tick = 0
        #: CPU seconds the refusals took since the last update (measured per refusal).
        self._refusal_cpu = 0.0
        self._clock = clock
        self._last_wall = clock()
        #: The share of the core refusals take (smoothed): the admitted requests get the rest.
        self.refusal_share = 0.0
        #: Slow start's limit: the floor, doubled while refusals meet an idle core.
        self.headroom = self.floor
        self._grown_at: float | None = None
        #: When the estimate is trusted: one hold time after its first sample.
        self._trusted_at: float | None = None
        #: The share of a core this worker gets when it wants one (``watch_lag``).
        self.available_share = 1.0
        self._lag_seconds: Callable[[], float] = lambda: 0.0

    def watch_lag(self, lag_seconds: Callable[[], float]) -> None:
        """Read the loop's sustained lag (``LoopLagMonitor``) to learn the share of a core the
        machine gives this worker. A loop that is behind on its work while the process ran
        only part of the second did not get the rest: other processes on the cores (two
        workers beside the model server on two cores), or a container's CPU quota. The
        budget is then the target share of what it gets; it comes back by
        ``SHARE_RECOVERY`` a second once the loop keeps up. Without this, two workers on a
        2-core VM each planned for 90% of a core, and their loops fell seconds behind: store
        calls timed out (503 ``store_unavailable``) on requests already admitted."""
        self._lag_seconds = lag_seconds

    def finished(self, held_seconds: float) -> None:
        self._done += 1
        self._held += held_seconds
        self._answered_tick += 1

    def refused(self) -> None:
        self._refused_tick += 1

    def refusal_cost(self, cpu_seconds: float) -> None:
        """What one refusal cost this worker's thread, its log line included."""
        self._refusal_cpu += cpu_seconds

    @property
    def retry_after(self) -> int:
        return math.ceil(self.retry_after_seconds)

    def update(self) -> None:
        """Fold in the requests answered since the last update (called about once a second)."""
        refused = self._refused_tick
        self._update_retry_after()
        cpu = self._cpu_seconds()
        wall = self._clock()
        elapsed = wall - self._last_wall
        busy = (cpu - self._last_cpu) / elapsed if elapsed > 0 else 0.0
        starved = self._lag_seconds() > self.STARVED_LAG_SECONDS
        self._observe_share(busy, starved)
        self._fold(cpu, wall)
        if self.trusted(wall):
            self.limit = self.estimated_limit
            return
        if (
            refused
            and busy < self.target / 2
            and not starved  # idle, not starved
            and self._round_trip_since_growth(wall)
        ):
            self.headroom = min(self.ceiling, 2 * self.headroom)
            self._grown_at = wall
            log.debug("in_flight_slow_start", limit=self.headroom, core_busy=round(busy, 3))
        self.limit = self.headroom

    def _observe_share(self, busy: float, starved: bool) -> None:
        if starved:
            got = max(self.MIN_SHARE, busy)
            if got < self.available_share:
                self.available_share = got
                log.debug("in_flight_starved", core_share=round(got, 3))
        else:
            self.available_share = min(1.0, self.available_share + self.SHARE_RECOVERY)

    def trusted(self, wall: float) -> bool:
        """Whether the estimate has watched one hold time since its first sample."""
        return self._trusted_at is not None and wall >= self._trusted_at

    def _round_trip_since_growth(self, wall: float) -> bool:
        """Whether the requests admitted by the last doubling have come back (one hold time:
        their answers' CPU is then in what the core shows)."""
        if self._grown_at is None:
            return True
        return self.hold_seconds is not None and wall - self._grown_at >= self.hold_seconds

    def _fold(self, cpu: float, wall: float) -> None:
        """The Little's-law estimate from the answers since the last fold."""
        if self._done == 0:
            self._last_cpu = cpu  # nothing answered: an idle worker's CPU is nobody's cost
            self._refusal_cpu, self._last_wall = 0.0, wall
            return
        if self._done < self.MIN_SAMPLE:
            return  # too few to say; the CPU they used is counted with the next sample
        # Refusals are paid for by the offered load, not by what is admitted: their CPU is
        # taken out of each answered request's cost and out of the core's budget instead.
        # Counted in the cost, it made the limit fall as refusals grew, which refused more.
        refusal_cpu = min(self._refusal_cpu, cpu - self._last_cpu)
        per_request = (cpu - self._last_cpu - refusal_cpu) / self._done
        hold = self._held / self._done
        share = refusal_cpu / max(wall - self._last_wall, 1e-3)
        first = self._primed is False
        self._last_cpu, self._done, self._held, self._primed = cpu, 0, 0.0, True
        self._refusal_cpu, self._last_wall = 0.0, wall
        if first:
            return  # this sample's CPU includes start-up and the first admissions
        if self._trusted_at is None:
            self._trusted_at = wall + hold
        a = self.SMOOTHING
        self.refusal_share = a * share + (1 - a) * self.refusal_share
        self.cpu_per_request = (
            per_request
            if self.cpu_per_request is None
            else a * per_request + (1 - a) * self.cpu_per_request
        )
        self.hold_seconds = (
            hold if self.hold_seconds is None else a * hold + (1 - a) * (self.hold_seconds)
        )
        if self.cpu_per_request > 0:
            target = self.target * self.available_share
            budget = max(target / 2, target - self.refusal_share)
            estimate = budget * self.hold_seconds / self.cpu_per_request
            self.estimated_limit = int(max(self.floor, min(self.ceiling, estimate)))
        log.debug(
            "in_flight_limit",
            limit=self.estimated_limit,
            cpu_ms_per_request=round(self.cpu_per_request * 1000, 3),
            held_seconds=round(self.hold_seconds, 3),
            refusal_share=round(self.refusal_share, 3),
            core_share=round(self.available_share, 3),
        )

    def _update_retry_after(self) -> None:
        """Retry-After grows while refusals outnumber answers and shrinks when they do not.

        Each refusal costs the worker CPU too; thousands of clients retrying every few seconds
        can take the core from the requests it admitted (measured: 1,835 refusals a second at
        10,000 in flight, 74% of the core). Waiting ``excess clients / answers per second``
        would give each a slot; holding refusals near the answer rate gets there without
        knowing either figure, and bounds the refusals' share of the CPU.
        """
        refused, answered = self._refused_tick, self._answered_tick
        self._refused_tick = self._answered_tick = 0
        factor = 0.5 if refused == 0 else min(2.0, max(0.5, refused / max(answered, 1)))
        self.retry_after_seconds = min(
            self.MAX_RETRY_AFTER_SECONDS,
            max(self.base_retry_after, self.retry_after_seconds * factor),
        )

    async def run(self, stop: asyncio.Event, interval_seconds: float = 1.0) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), interval_seconds)
            except TimeoutError:
                self.update()


class WorkerLoad:
    """What ``/metrics`` reads of this worker's load: requests in flight, refusals, lag."""

    def __init__(self, capacity: CapacityEstimate | None = None) -> None:
        self.in_flight = 0
        self.refused = {"in_flight": 0, "loop_lag": 0}
        self.monitor = LoopLagMonitor()
        self.capacity = capacity
        if capacity is not None:
            capacity.watch_lag(lambda: self.monitor.lag_seconds)

    @property
    def limit(self) -> int | None:
        return self.capacity.limit if self.capacity is not None else None


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
        capacity = load.capacity
        limit = capacity.limit if capacity is not None else self.limit
        if load.in_flight >= limit:
            await self._refuse(
                scope, send, "in_flight", f"it holds its limit of {limit} requests in flight"
            )
            return
        if load.monitor.lag_seconds > self.max_lag_seconds:
            lag_ms = round(load.monitor.lag_seconds * 1000)
            await self._refuse(scope, send, "loop_lag", f"it is {lag_ms} ms behind on its work")
            return
        load.in_flight += 1
        started = time.monotonic()
        try:
            await self.app(scope, receive, send)
        finally:
            load.in_flight -= 1
            if capacity is not None:
                capacity.finished(time.monotonic() - started)

    async def _refuse(self, scope: Scope, send: Send, reason: str, why: str) -> None:
        self.load.refused[reason] += 1
        capacity = self.load.capacity
        retry_after = self.retry_after
        if capacity is not None:
            capacity.refused()
            # RequestContextMiddleware, outside, reports the refusal's CPU (log line too).
            scope.setdefault("state", {})[REFUSAL_KEY] = capacity
            retry_after = str(capacity.retry_after)
        error = Overloaded(
            f"This gateway worker is overloaded: {why}. Retry after {retry_after} s.",
            headers={"retry-after": retry_after},
        )
        await send_error(send, error)
