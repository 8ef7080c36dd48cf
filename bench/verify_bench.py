"""What verification costs: OCR time per image, and gateway throughput with and without it.

    python bench/verify_bench.py [--images 100] [--concurrency 16] [--seconds 15]

1. OCR: renders --images text images with the simulator's own renderer (headlines of 1-12
   words, a fifth in Chinese) and reads each back on one thread: p50/p99 ms per image.
2. Throughput: one `tiergate serve` (memory store) in front of zero-latency simulators,
   --concurrency clients sending headline prompts for --seconds, first with
   `x-tiergate-verify: off`, then with verification on: requests/s, p50/p99 latency and the
   share escalated. The gateway reads images on TIERGATE_VERIFY_OCR_THREADS threads (2).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

WORDS = [
    "summer",
    "sale",
    "fresh",
    "coffee",
    "daily",
    "grand",
    "opening",
    "big",
    "spring",
    "clearance",
    "event",
    "now",
]
CHINESE = ["夏季大促销", "新年快乐", "全场五折", "欢迎光临本店"]


def headline(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return rng.choice(CHINESE)
    return " ".join(rng.choice(WORDS).title() for _ in range(rng.randint(1, 12)))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ocr_times(images: int) -> tuple[float, float, float]:
    from gateway.simulator.text_image import render_text_png, text_size_for
    from gateway.verify.ocr import OcrReader

    rng = random.Random(7)
    reader = OcrReader(threads=1)
    reader.warm_up()
    pngs = [
        render_text_png(headline(rng), *text_size_for(1024, 1024), b"%d" % i) for i in range(images)
    ]
    reader.read_sync(pngs[0])  # the first inference allocates
    seconds = [reader.read_sync(png).seconds for png in pngs]
    reader.close()
    return pct(seconds, 0.5) * 1000, pct(seconds, 0.99) * 1000, statistics.mean(seconds) * 1000


async def load(url: str, concurrency: int, seconds: float, verify: str) -> dict[str, float]:
    rng = random.Random(11)
    latencies: list[float] = []
    escalated = 0
    deadline = time.perf_counter() + seconds
    headers = {"authorization": "Bearer tg-demo-key", "x-tiergate-verify": verify}

    async def client(c: httpx.AsyncClient) -> None:
        nonlocal escalated
        while time.perf_counter() < deadline:
            prompt = f'A banner with the headline "{headline(rng)}"'
            started = time.perf_counter()
            response = await c.post("/v1/images/generations", json={"prompt": prompt})
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)
            escalated += "escalated=" in response.headers.get("x-tiergate-verify", "")

    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as c:
        started = time.perf_counter()
        await asyncio.gather(*(client(c) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": pct(latencies, 0.5) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
        "escalated": escalated / max(len(latencies), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    p50, p99, mean = ocr_times(args.images)
    print(f"cores: {os.cpu_count()}")
    print(
        f"OCR per 768x768 text image, one thread, {args.images} images: "
        f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, mean {mean:.0f} ms"
    )

    from gateway.commands import wait_http_ok
    from tests.support import free_port

    ports = {"efficient": free_port(), "flagship": free_port()}
    env = {
        **os.environ,
        **{f"TIERGATE_SIM_{p.upper()}_PORT": str(v) for p, v in ports.items()},
        "TIERGATE_LOG_LEVEL": "warning",
    }
    procs = []
    with tempfile.TemporaryDirectory() as work:
        env["TIERGATE_BLOB_STORE"] = f"file://{work}/blobs"
        env["TIERGATE_JOURNAL_DIR"] = f"{work}/journal"
        try:
            for profile, port in ports.items():
                procs.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "gateway.simulator",
                            "--profile",
                            profile,
                            "--port",
                            str(port),
                            "--latency-scale",
                            "0",
                        ],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
                wait_http_ok(f"http://127.0.0.1:{port}/healthz", timeout_s=60)
            import yaml

            raw = yaml.safe_load((REPO / "policies" / "default.yaml").read_text())
            raw["teams"]["demo"].pop("budgets", None)  # the load must never be refused
            raw["teams"]["demo"].pop("rate_limits", None)
            policy = Path(work) / "policy.yaml"
            policy.write_text(yaml.safe_dump(raw))
            port = free_port()
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "gateway.cli",
                        "serve",
                        "--port",
                        str(port),
                        "--policy",
                        str(policy),
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            url = f"http://127.0.0.1:{port}"
            wait_http_ok(url + "/healthz", timeout_s=90)
            print(
                f"| headline prompts, c={args.concurrency}, {args.seconds:.0f} s | req/s | p50 ms "
                "| p99 ms | escalated |"
            )
            print("| --- | ---: | ---: | ---: | ---: |")
            for label, verify in (("verification off", "off"), ("verification on", "on")):
                asyncio.run(load(url, args.concurrency, 2, verify))  # warm up
                r = asyncio.run(load(url, args.concurrency, args.seconds, verify))
                print(
                    f"| {label} | {r['rps']:.1f} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | "
                    f"{r['escalated']:.0%} |",
                    flush=True,
                )
        finally:
            for proc in procs[::-1]:
                proc.terminate()
                proc.wait(timeout=20)


if __name__ == "__main__":
    main()
