"""Budget exactness: N replicas on one Redis, M concurrent requests, a budget for exactly K.

    python bench/budget_load.py --replicas 4 --requests 2000 --admit 150

Starts a zero-latency efficient simulator and N `tiergate serve` processes sharing
Redis (unique key prefix, deleted afterwards), fires M requests spread round-robin
over the replicas with bounded concurrency, and prints admitted count, overspend
(spent - limit, must be <= 0), the spend/header agreement, and throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
import redis
import yaml

REPO = Path(__file__).resolve().parents[1]
PROMPT = "a bowl of fruit on a wooden table"
KEY = "tg-budget-load"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ok(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not healthy")


def unit_cost_micros() -> int:
    sys.path.insert(0, str(REPO))
    from gateway.tokens import count_text_tokens

    return count_text_tokens(PROMPT) * 5 + 1056 * 39 // 2


async def fire(
    urls: list[str], total: int, concurrency: int
) -> list[httpx.Response | BaseException]:
    semaphore = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:

        async def one(i: int) -> httpx.Response:
            async with semaphore:
                return await client.post(
                    urls[i % len(urls)] + "/v1/images/generations",
                    json={"prompt": PROMPT},
                    headers={"Authorization": f"Bearer {KEY}"},
                )

        return await asyncio.gather(*(one(i) for i in range(total)), return_exceptions=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--admit", type=int, default=150, help="K: images the budget admits")
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument(
        "--redis", default=os.environ.get("TIERGATE_BENCH_REDIS", "redis://127.0.0.1:6379/0")
    )
    args = parser.parse_args()

    unit = unit_cost_micros()
    limit_micros = args.admit * unit
    prefix = "bload-" + uuid.uuid4().hex[:8]
    sim_port = free_port()
    raw = yaml.safe_load((REPO / "policies" / "default.yaml").read_text())
    raw["teams"] = {
        "load": {
            "keys": [{"id": "load-1", "sha256": hashlib.sha256(KEY.encode()).hexdigest()}],
            "budgets": [{"period": "day", "limit_usd": str(Decimal(limit_micros) / 1_000_000)}],
        }
    }
    workdir = Path(tempfile.mkdtemp(prefix="budget-load-"))
    policy = workdir / "policy.yaml"
    policy.write_text(yaml.safe_dump(raw))
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "TIERGATE_STORE": args.redis,
        "TIERGATE_STORE_KEY_PREFIX": prefix,
        "TIERGATE_SIM_EFFICIENT_PORT": str(sim_port),
        "TIERGATE_SIM_FLAGSHIP_PORT": str(sim_port),
        "TIERGATE_LOG_LEVEL": "warning",
    }
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gateway.simulator",
                    "--profile",
                    "efficient",
                    "--port",
                    str(sim_port),
                    "--latency-scale",
                    "0",
                ],
                cwd=REPO,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        ports = [free_port() for _ in range(args.replicas)]
        for port in ports:
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "gateway.cli",
                        "serve",
                        "--policy",
                        str(policy),
                        "--port",
                        str(port),
                    ],
                    cwd=REPO,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        wait_ok(f"http://127.0.0.1:{sim_port}/healthz")
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url in urls:
            wait_ok(url + "/healthz")
        started = time.perf_counter()
        responses = asyncio.run(fire(urls, args.requests, args.concurrency))
        elapsed = time.perf_counter() - started
        errors = [r for r in responses if isinstance(r, BaseException)]
        answered = [r for r in responses if isinstance(r, httpx.Response)]
        ok = [r for r in answered if r.status_code == 200]
        refused = [
            r
            for r in answered
            if r.status_code == 429 and r.json()["error"]["type"] == "insufficient_quota"
        ]
        other = len(answered) - len(ok) - len(refused)
        headers_micros = sum(
            round(Decimal(r.headers["x-tiergate-cost-usd"]) * 1_000_000) for r in ok
        )
        budget = httpx.get(
            urls[0] + "/v1/budget", headers={"Authorization": f"Bearer {KEY}"}
        ).json()
        window = next(w for w in budget["windows"] if w["period"] == "day")
        rows = [
            ("replicas", args.replicas),
            ("requests", args.requests),
            ("concurrency", args.concurrency),
            ("budget admits (K)", args.admit),
            ("admitted", len(ok)),
            ("refused 429 insufficient_quota", len(refused)),
            ("other statuses", other),
            ("client-side errors", f"{len(errors)} {sorted({type(e).__name__ for e in errors})}"),
            ("limit (micro-USD)", limit_micros),
            ("spent (micro-USD)", window["spent_micros"]),
            ("reserved after run", window["reserved_micros"]),
            ("overspend (spent - limit)", window["spent_micros"] - limit_micros),
            ("sum of x-tiergate-cost-usd (micro-USD)", headers_micros),
            ("throughput (req/s)", f"{len(responses) / elapsed:.0f}"),
            ("wall time (s)", f"{elapsed:.2f}"),
        ]
        print("| figure | value |\n| --- | ---: |")
        for name, value in rows:
            print(f"| {name} | {value} |")
        exact = (
            len(ok) == args.admit
            and window["spent_micros"] <= limit_micros
            and headers_micros == window["spent_micros"]
            and other == 0
        )
        print("\nexact:", "yes" if exact else "NO")
        return 0 if exact else 1
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        client = redis.Redis.from_url(args.redis)
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            client.delete(key)


if __name__ == "__main__":
    sys.exit(main())
