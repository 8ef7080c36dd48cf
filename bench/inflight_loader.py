"""Holds N image requests in flight over raw keep-alive sockets, and says what came back.

The load generator of ``bench/inflight.py``, run as its own process. wrk cannot do this
shape: it either ignores ``Retry-After`` (a refused connection retries at once, in a tight
loop) or, to read the header, copies every multi-MB body into Lua, which made wrk the
bottleneck at a few hundred responses per second. This loader parses only the status line and
headers and counts body bytes without keeping them (uvloop protocols, one process).

Connections start evenly over ``--ramp`` seconds, then each sends its next request as soon as
the previous answer is complete, or after ``Retry-After`` seconds when it was a 503 or 429, as
the OpenAI SDKs wait. Each answer records its status, its total time, and the upstream time
the server reported (``x-tiergate-upstream-ms`` from the gateway, ``openai-processing-ms``
from the simulator), so ``total - upstream`` is what the server added on top of the model.

Prints one JSON object: counts by status over the steady window (after ``--warmup`` s, for
``--measure`` s), completions per second in it, latency and added-latency percentiles, and
socket errors and timeouts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sys
import time
from collections import Counter
from urllib.parse import urlsplit

UPSTREAM_HEADERS = (b"x-tiergate-upstream-ms", b"openai-processing-ms")


class Results:
    def __init__(self, window_start: float, window_end: float) -> None:
        self.window_start = window_start
        self.window_end = window_end
        self.statuses: Counter[str] = Counter()
        self.total_ms: list[float] = []
        self.added_ms: list[float] = []
        self.completed_in_window = 0
        self.socket_errors: Counter[str] = Counter()
        self.bytes = 0

    def record(self, done: float, status: int, total_ms: float, upstream_ms: float | None) -> None:
        if not self.window_start <= done < self.window_end:
            return
        self.statuses[str(status)] += 1
        if 200 <= status < 300:
            self.completed_in_window += 1
            self.total_ms.append(total_ms)
            if upstream_ms is not None:
                self.added_ms.append(total_ms - upstream_ms)


class Client(asyncio.Protocol):
    """One keep-alive connection sending the same request again and again."""

    def __init__(self, loader: Loader) -> None:
        self.loader = loader
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.remaining = -1  # body bytes still to come; -1 while reading headers
        self.status = 0
        self.retry_after = 0.0
        #: When a refused request may be sent again (``Retry-After`` after its refusal).
        self.not_before = 0.0
        self.upstream_ms: float | None = None
        self.keep_alive = True
        self.sent_at = 0.0
        self.closed = asyncio.get_running_loop().create_future()
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def send(self) -> None:
        assert self.transport is not None
        self.sent_at = time.perf_counter()
        self.remaining = -1
        self.buffer.clear()
        if self.transport.is_closing():  # closed while a Retry-After wait ran
            return
        self.transport.write(self.loader.request)
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(self.loader.timeout_s, self.timed_out)

    def timed_out(self) -> None:
        self.loader.results.socket_errors["timeout"] += 1
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if self.remaining < 0:
            self.buffer += data
            end = self.buffer.find(b"\r\n\r\n")
            if end == -1:
                return
            self.parse_head(bytes(self.buffer[:end]))
            body = len(self.buffer) - end - 4
            self.buffer.clear()
            self.remaining -= body
            self.loader.results.bytes += body
        else:
            self.remaining -= len(data)
            self.loader.results.bytes += len(data)
        if self.remaining <= 0:
            self.finished()

    def parse_head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        self.status = int(lines[0].split(b" ", 2)[1])
        length = 0
        self.retry_after = 0.0
        self.upstream_ms = None
        self.keep_alive = True
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"retry-after":
                self.retry_after = float(value)
            elif name in UPSTREAM_HEADERS:
                self.upstream_ms = float(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                self.keep_alive = False
        self.remaining = length

    def finished(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        now = time.perf_counter()
        self.loader.results.record(now, self.status, (now - self.sent_at) * 1000, self.upstream_ms)
        wait = self.retry_after if self.status in (429, 503) else 0.0
        self.not_before = now + wait
        if not self.keep_alive:
            assert self.transport is not None
            self.transport.close()
            return
        if self.loader.stopping:
            return
        if wait:
            asyncio.get_running_loop().call_later(wait, self.send)
        else:
            self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.remaining != -1 and self.remaining > 0 and not self.loader.stopping:
            self.loader.results.socket_errors["reset"] += 1
        if not self.closed.done():
            self.closed.set_result(None)


class Loader:
    def __init__(
        self, url: str, body: str, auth: str | None, results: Results, timeout_s: float
    ) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        payload = body.encode()
        head = (
            f"POST {parts.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "Content-Type: application/json\r\n"
            + (f"Authorization: {auth}\r\n" if auth else "")
            + f"Content-Length: {len(payload)}\r\n\r\n"
        )
        self.request = head.encode() + payload
        self.results = results
        self.timeout_s = timeout_s
        self.stopping = False

    async def connection(self, start_delay: float, end: float) -> None:
        """One connection's life: start, keep sending until ``end``, reconnect when closed."""
        await asyncio.sleep(start_delay)
        loop = asyncio.get_running_loop()
        while not self.stopping and time.perf_counter() < end:
            try:
                _, client = await loop.create_connection(lambda: Client(self), self.host, self.port)
            except OSError as exc:
                self.results.socket_errors[f"connect:{type(exc).__name__}"] += 1
                await asyncio.sleep(1 + random.random())
                continue
            client.send()
            await client.closed
            # The server may close a connection idle through a long Retry-After (uvicorn's
            # keep-alive timeout is 5 s): the retry then waits out the rest on a new one,
            # as an SDK's would, instead of going at once.
            delay = client.not_before - time.perf_counter()
            if delay > 0 and not self.stopping:
                await asyncio.sleep(delay)


async def run(args: argparse.Namespace) -> dict[str, object]:
    started = time.perf_counter()
    results = Results(started + args.warmup, started + args.warmup + args.measure)
    loader = Loader(args.url, args.body, args.auth, results, args.timeout)
    end = started + args.warmup + args.measure
    tasks = [
        asyncio.create_task(loader.connection(args.ramp * i / args.connections, end))
        for i in range(args.connections)
    ]
    await asyncio.sleep(args.warmup + args.measure)
    loader.stopping = True
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    def pct(values: list[float], q: float) -> float | None:
        if not values:
            return None
        ordered = sorted(values)
        return round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))], 2)

    return {
        "connections": args.connections,
        "measure_s": args.measure,
        "completed_per_s": results.completed_in_window / args.measure,
        "statuses": dict(results.statuses),
        "socket_errors": dict(results.socket_errors),
        "total_ms": {"p50": pct(results.total_ms, 50), "p99": pct(results.total_ms, 99)},
        "added_ms": {
            "p50": pct(results.added_ms, 50),
            "p99": pct(results.added_ms, 99),
            "n": len(results.added_ms),
        },
        "mib_per_s": results.bytes / 2**20 / (args.warmup + args.measure),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--body", required=True)
    parser.add_argument("--auth", default=None, help="the Authorization header's value")
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--ramp", type=float, default=7.0, help="seconds over which to start")
    parser.add_argument("--warmup", type=float, default=16.0, help="seconds before measuring")
    parser.add_argument("--measure", type=float, default=20.0, help="seconds measured")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop
    except ImportError:
        print(json.dumps(asyncio.run(run(args))))
    else:
        print(json.dumps(uvloop.run(run(args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
