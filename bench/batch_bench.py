"""Batch throughput: one batch of N lines through 1, 2 and 4 `tiergate worker` processes.

    python bench/batch_bench.py --lines 2000 --workers 1 2 4 [--concurrency 256]

For each worker count: a zero-latency simulator per tier, one `tiergate serve` on Redis (a
unique key prefix, deleted afterwards) that only accepts the batch, W workers, and a
team whose batch limits do not bind (max_concurrent 4096, no rpm). It times from
`POST /v1/batches` to `completed` and prints items/s, the time to validate, and each
worker process's CPU seconds. Every process shares this machine's cores, simulators
included, so the figure is what the whole deployment does on it, not one worker alone.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import redis
import yaml

REPO = Path(__file__).resolve().parents[1]
KEY = "tg-batch-bench"
REDIS_URL = os.environ.get("TIERGATE_BENCH_REDIS", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ok(url: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not healthy")


def policy(directory: Path) -> Path:
    raw = yaml.safe_load((REPO / "policies" / "default.yaml").read_text())
    raw["teams"] = {
        "bench": {
            "keys": [{"id": "bench-1", "sha256": hashlib.sha256(KEY.encode()).hexdigest()}],
            "batch": {"max_concurrent": 4096},
        }
    }
    path = directory / "policy.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(lines: int, workers: int, concurrency: int, work: Path) -> dict[str, float]:
    prefix = "tgbb-" + uuid.uuid4().hex[:8]
    sims: dict[str, int] = {"efficient": free_port(), "flagship": free_port()}
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "TIERGATE_STORE": REDIS_URL,
        "TIERGATE_STORE_KEY_PREFIX": prefix,
        "TIERGATE_BLOB_STORE": f"file://{work}/blobs-{prefix}",
        "TIERGATE_BATCH_IN_PROCESS_WORKER": "false",
        "TIERGATE_BATCH_WORKER_CONCURRENCY": str(concurrency),
        "TIERGATE_LOG_LEVEL": "warning",
        "TIERGATE_JOURNAL_DIR": str(work / f"journal-{prefix}"),
        "TIERGATE_SIM_EFFICIENT_PORT": str(sims["efficient"]),
        "TIERGATE_SIM_FLAGSHIP_PORT": str(sims["flagship"]),
    }
    path = policy(work)
    procs: list[subprocess.Popen[bytes]] = []
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    try:
        for profile, port in sims.items():
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
                    **quiet,  # type: ignore[arg-type]
                )
            )
            wait_ok(f"http://127.0.0.1:{port}/healthz")
        port = free_port()
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gateway.cli",
                    "serve",
                    "--policy",
                    str(path),
                    "--port",
                    str(port),
                ],
                env=env,
                **quiet,  # type: ignore[arg-type]
            )
        )
        wait_ok(f"http://127.0.0.1:{port}/healthz")
        worker_procs = []
        for _ in range(workers):
            metrics = free_port()
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gateway.cli",
                    "worker",
                    "--policy",
                    str(path),
                    "--metrics-port",
                    str(metrics),
                ],
                env=env,
                **quiet,  # type: ignore[arg-type]
            )
            procs.append(proc)
            worker_procs.append(proc)
            wait_ok(f"http://127.0.0.1:{metrics}/metrics")
        rows = [
            {
                "custom_id": f"item-{i}",
                "method": "POST",
                "url": "/v1/images/generations",
                "body": {"prompt": f"a flat icon of a paper plane number {i}"},
            }
            for i in range(lines)
        ]
        headers = {"authorization": f"Bearer {KEY}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/v1", headers=headers, timeout=60) as c:
            content = "\n".join(json.dumps(r) for r in rows).encode()
            file_id = c.post(
                "/files", files={"file": ("b.jsonl", content)}, data={"purpose": "batch"}
            ).json()["id"]
            cpu_before = [cpu_seconds(p.pid) for p in worker_procs]
            started = time.perf_counter()
            batch = c.post(
                "/batches",
                json={
                    "input_file_id": file_id,
                    "endpoint": "/v1/images/generations",
                    "completion_window": "24h",
                },
            ).json()
            validated = None
            while batch["status"] not in ("completed", "failed", "expired", "cancelled"):
                time.sleep(0.05)
                batch = c.get(f"/batches/{batch['id']}").json()
                if validated is None and batch["status"] != "validating":
                    validated = time.perf_counter() - started
            elapsed = time.perf_counter() - started
            cpu = [cpu_seconds(p.pid) - b for p, b in zip(worker_procs, cpu_before, strict=True)]
        counts = batch["request_counts"]
        assert batch["status"] == "completed" and counts["completed"] == lines, batch
        return {
            "items_per_s": lines / elapsed,
            "seconds": elapsed,
            "validate_s": validated or elapsed,
            "worker_cpu_s": sum(cpu),
            "cpu_ms_per_item": sum(cpu) * 1000 / lines,
        }
    finally:
        for proc in procs[::-1]:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{prefix}:*", count=1000):
            client.delete(key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--concurrency", type=int, default=256)
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}  lines: {args.lines}  concurrency/worker: {args.concurrency}")
    print("| workers | items/s | batch s | validate s | worker CPU s | worker CPU ms/item |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as work:
        for workers in args.workers:
            r = run_once(args.lines, workers, args.concurrency, Path(work))
            print(
                f"| {workers} | {r['items_per_s']:.0f} | {r['seconds']:.1f} | "
                f"{r['validate_s']:.2f} | {r['worker_cpu_s']:.1f} | {r['cpu_ms_per_item']:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
