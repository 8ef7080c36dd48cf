"""CPU per upstream call, one process, sequential: litellm vs the httpx backend vs raw clients.

Run: ``python bench/upstream_micro.py [--calls N]``; it starts its own zero-latency simulator.
Process CPU time (user+sys) per call is what a gateway worker pays for the upstream leg, and
it is far less sensitive to a busy machine than wall-clock latency.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import httpx
import orjson

from gateway.upstream import UpstreamCall
from gateway.upstream_httpx import HttpxImageBackend


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def measure(name: str, fn, calls: int) -> tuple[str, float, float]:  # type: ignore[no-untyped-def]
    for _ in range(50):
        await fn()
    c0, t0 = cpu(), time.perf_counter()
    for _ in range(calls):
        await fn()
    return name, (cpu() - c0) * 1000 / calls, (time.perf_counter() - t0) * 1000 / calls


async def main_async(port: int, calls: int, repeats: int) -> None:
    base = f"http://127.0.0.1:{port}/v1"
    call = UpstreamCall(
        tier="efficient",
        model="openai/mai-image-2-efficient",
        prompt="a cozy nook",
        n=1,
        size="1024x1024",
        quality="medium",
        api_base=base,
        api_key="sk",
        api_version=None,
        timeout_seconds=30,
    )
    body = orjson.dumps(
        {
            "model": "mai-image-2-efficient",
            "prompt": "a cozy nook",
            "n": 1,
            "size": "1024x1024",
            "quality": "medium",
        }
    )
    from gateway.upstream import LiteLLMBackend

    lite = LiteLLMBackend()
    direct = HttpxImageBackend(transport="httpcore")
    direct_aio = HttpxImageBackend(transport="aiohttp")
    try:  # the httpx-aiohttp package (optional): its transport under the same backend
        import httpx_aiohttp

        direct_lib: HttpxImageBackend | None = HttpxImageBackend(
            client=httpx.AsyncClient(
                transport=httpx_aiohttp.AiohttpTransport(trust_env=False), trust_env=False
            )
        )
    except ImportError:
        direct_lib = None
    raw = httpx.AsyncClient()
    import aiohttp

    session = aiohttp.ClientSession()

    async def raw_httpx() -> None:
        r = await raw.post(
            base + "/images/generations", content=body, headers={"content-type": "application/json"}
        )
        orjson.loads(r.content)

    async def raw_aiohttp() -> None:
        async with session.post(
            base + "/images/generations", data=body, headers={"content-type": "application/json"}
        ) as r:
            orjson.loads(await r.read())

    cases = [
        ("litellm.aimage_generation (LiteLLMBackend)", lambda: lite.generate(call)),
        ("HttpxImageBackend.generate, httpcore transport", lambda: direct.generate(call)),
        ("HttpxImageBackend.generate, aiohttp transport", lambda: direct_aio.generate(call)),
        *(
            [
                (
                    "HttpxImageBackend.generate, httpx-aiohttp package transport",
                    lambda: direct_lib.generate(call),
                )
            ]
            if direct_lib is not None
            else []
        ),
        ("raw httpx post + orjson", raw_httpx),
        ("raw aiohttp post + orjson", raw_aiohttp),
    ]
    results: dict[str, list[tuple[float, float]]] = {}
    for _ in range(repeats):
        for name, fn in cases:
            _, c, w = await measure(name, fn, calls)
            results.setdefault(name, []).append((c, w))
    print("| upstream call | CPU ms/call (median, min–max) | wall ms/call |")
    print("|---|---:|---:|")
    for name, vals in results.items():
        cs = [v[0] for v in vals]
        ws = [v[1] for v in vals]
        print(
            f"| {name} | {statistics.median(cs):.3f} ({min(cs):.3f}–{max(cs):.3f}) | "
            f"{statistics.median(ws):.3f} |"
        )
    await direct.aclose()
    await direct_aio.aclose()
    if direct_lib is not None:
        await direct_lib.aclose()
    await raw.aclose()
    await session.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--port", type=int, default=0, help="use a running simulator")
    args = parser.parse_args()
    sim = None
    port = args.port
    if not port:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        sim = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway.simulator",
                "--profile",
                "efficient",
                "--port",
                str(port),
                "--latency-scale",
                "0",
            ],
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz")
                break
            except httpx.HTTPError:
                time.sleep(0.05)
    try:
        import uvloop

        uvloop.run(main_async(port, args.calls, args.repeats))
    finally:
        if sim is not None:
            sim.terminate()
            sim.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
