"""Fallback load generator when wrk is unavailable: N keep-alive connections over raw asyncio.

Closed loop like wrk: each connection sends the next request as soon as the previous answer
has been read. It runs in Python, so it costs more CPU than wrk and competes with the gateway
on a small machine; prefer wrk. ``run_load(url, body, auth, conns, seconds)`` returns the
fields of ``bench.run.Run``.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit


async def _connection(
    host: str, port: int, request: bytes, stop_at: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status >= 400:
                errors[0] += 1
    except (OSError, asyncio.IncompleteReadError):
        errors[0] += 1
    finally:
        writer.close()


async def _run(
    url: str, body: str, auth: str | None, conns: int, seconds: float
) -> dict[str, float]:
    parts = urlsplit(url)
    headers = [
        f"POST {parts.path} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Content-Type: application/json",
        f"Content-Length: {len(body.encode())}",
    ]
    if auth:
        headers.append(f"Authorization: {auth}")
    request = ("\r\n".join(headers) + "\r\n\r\n").encode() + body.encode()
    latencies: list[float] = []
    errors = [0]
    started = time.perf_counter()
    await asyncio.gather(
        *(
            _connection(
                parts.hostname or "127.0.0.1",
                parts.port or 80,
                request,
                started + seconds,
                latencies,
                errors,
            )
            for _ in range(conns)
        )
    )
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(q: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0.0
        )

    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": pct(0.5),
        "p90_ms": pct(0.9),
        "p99_ms": pct(0.99),
        "errors": errors[0],
        "requests": len(latencies),
    }


def run_load(url: str, body: str, auth: str | None, conns: int, seconds: float) -> dict[str, float]:
    return asyncio.run(_run(url, body, auth, conns, seconds))
