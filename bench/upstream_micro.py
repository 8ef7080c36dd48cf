"""CPU per upstream call, one process, sequential: litellm vs the httpx backend vs raw clients.

Run: ``python bench/upstream_micro.py [--calls N]``; it starts its own zero-latency simulator.
Process CPU time (user+sys) per call is what a gateway worker pays for the upstream leg, and
it is far less sensitive to a busy machine than wall-clock latency.

``--profile-litellm`` instead runs ``LiteLLMBackend`` under cProfile and splits its time into
phases: the OpenAI SDK request over litellm's HTTP transport, litellm's cost calculation for
the response metadata, the success-logging payload (built even with no callbacks), and the
rest of litellm's wrapper.
"""

from __future__ import annotations

import argparse
import asyncio
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

from gateway.upstream.backend import UpstreamCall
from gateway.upstream.direct import HttpxImageBackend


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
    from gateway.upstream.backend import LiteLLMBackend

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


#: (label, function name, path suffix) of the cProfile entries whose cumulative time is a phase.
LITELLM_PHASES = (
    ("OpenAI SDK request + HTTP transport", "generate", "openai/resources/images.py"),
    ("cost calculation (response metadata)", "update_response_metadata", "response_metadata.py"),
    ("success-logging payload (no callbacks set)", "async_success_handler", "litellm_logging.py"),
)


async def profile_litellm(port: int, calls: int) -> None:
    import cProfile
    import pstats

    from gateway.upstream.backend import LiteLLMBackend

    call = UpstreamCall(
        tier="efficient",
        model="openai/mai-image-2-efficient",
        prompt="a cozy nook",
        n=1,
        size="1024x1024",
        quality="medium",
        api_base=f"http://127.0.0.1:{port}/v1",
        api_key="sk",
        api_version=None,
        timeout_seconds=30,
    )
    lite = LiteLLMBackend()
    for _ in range(50):
        await lite.generate(call)
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(calls):
        await lite.generate(call)
    await asyncio.sleep(0.2)  # let litellm's success-logging tasks finish inside the profile
    profile.disable()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]

    def cumulative(name: str, suffix: str) -> float:
        return sum(
            entry[3]
            for (path, _, func), entry in stats.items()
            if func == name and path.endswith(suffix)
        )

    wrapper = cumulative("generate", "gateway/upstream/backend.py")
    logging = cumulative(*LITELLM_PHASES[2][1:])
    total = wrapper + logging  # success logging runs in its own task, outside generate()
    print(f"LiteLLMBackend.generate under cProfile, {calls} calls (profiled times are inflated;")
    print("the shares are what matters)\n")
    print("| phase | ms/call (profiled) | share |")
    print("|---|---:|---:|")
    rest = total
    for label, name, suffix in LITELLM_PHASES:
        ms = cumulative(name, suffix)
        rest -= ms
        print(f"| {label} | {ms * 1000 / calls:.3f} | {ms / total:.0%} |")
    print(
        f"| rest of litellm's wrapper (setup, params, response objects) | "
        f"{rest * 1000 / calls:.3f} | {rest / total:.0%} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--port", type=int, default=0, help="use a running simulator")
    parser.add_argument(
        "--profile-litellm", action="store_true", help="split LiteLLMBackend's time by phase"
    )
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

        if args.profile_litellm:
            uvloop.run(profile_litellm(port, args.calls))
        else:
            uvloop.run(main_async(port, args.calls, args.repeats))
    finally:
        if sim is not None:
            sim.terminate()
            sim.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
