"""The in-flight benchmark: thousands of slow image calls held open at once (``run.py --inflight``).

Image models answer in 7-9 s, so a gateway in front of agents holds thousands of requests
at once, each with a connection in, a connection out, a reservation, and on the way back an
image of a megabyte or two. For each level of N requests in flight this starts the tier
simulator at the vendors' latency (``--latency-scale 1``: log-normal, median 7 s for the
efficient profile) padding every PNG to ``--image-bytes``, and drives it with
``bench/inflight_loader.py``: N keep-alive connections whose first requests start evenly over
one latency period, then back to back (after ``Retry-After`` when refused), so N stay in
flight at a steady N / latency arrivals per second.

Targets, measured against the same simulator: the simulator alone (``direct``), the gateway
with 1 and 2 workers on the Redis store, and LiteLLM's proxy (``--peer``). Per run:

* throughput: 2xx answers per second over a steady window, against the ideal
  N / E[latency] (E = 7 s x exp(sigma^2 / 2) = 7.22 s for the profile);
* errors by kind: non-2xx answers by status, socket errors (backpressure 503s,
  ``server_overloaded``, are the documented kind), and the gateway's log lines by status;
* the added latency: p50/p99 of the client's response time minus the upstream time the
  server reported in ``x-tiergate-upstream-ms`` (simulator: ``openai-processing-ms``);
* the server's CPU use;
* peak RSS (all worker processes), RSS per in-flight request against the image's base64
  size, and peak open file descriptors.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import run as base  # noqa: E402  (bench/run.py: process, port and Redis helpers)

from gateway.fdlimit import raise_open_file_limit  # noqa: E402

MEDIAN_S = 7.0  # gateway.simulator.latency: the efficient profile's median
SIGMA = 0.25
MEAN_S = MEDIAN_S * math.exp(SIGMA**2 / 2)
FD_LIMIT = 131_072


def process_tree(pid: int) -> list[int]:
    """``pid`` and its children (uvicorn's worker processes)."""
    pids = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                pids += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return pids


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


class TreeSampler:
    """Samples the summed RSS and open fds of a process tree every 100 ms; keeps the peaks."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.max_rss_kib = 0
        self.max_fds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = fds = 0
            for pid in process_tree(self.pid):
                try:
                    rss += base.rss_kib(pid)
                except (OSError, RuntimeError):
                    continue
                fds += open_fds(pid)
            self.max_rss_kib = max(self.max_rss_kib, rss)
            self.max_fds = max(self.max_fds, fds)
            self._stop.wait(0.1)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def tree_rss_kib(pid: int) -> int:
    return sum(base.rss_kib(p) for p in process_tree(pid))


@dataclass
class InflightRun:
    target: str
    inflight: int
    loader: dict[str, Any]
    statuses: Counter[str] = field(default_factory=Counter)
    log_added_ms: list[float] = field(default_factory=list)
    peak_rss_mib: float = 0.0
    idle_rss_mib: float = 0.0
    peak_fds: int = 0
    cpu_percent: float = 0.0

    @property
    def throughput(self) -> float:
        return float(self.loader["completed_per_s"])

    @property
    def cpu_text(self) -> str:
        if not self.cpu_percent:
            return "n/a"
        per = 10 * self.cpu_percent / self.throughput if self.throughput else float("nan")
        return f"{self.cpu_percent:.0f}% ({per:.2f} ms)"

    @property
    def ideal(self) -> float:
        return self.inflight / MEAN_S

    @property
    def errors(self) -> dict[str, int]:
        """Answers that were not 2xx, by status, and socket errors, by kind."""
        bad = {k: v for k, v in self.loader["statuses"].items() if not k.startswith("2")}
        return {**bad, **self.loader["socket_errors"]}


def cpu_seconds_tree(pid: int) -> float:
    return sum(base.cpu_seconds(p) for p in process_tree(pid))


def measure(
    target: str,
    url: str,
    body: str,
    auth: str | None,
    conns: int,
    pid: int | None,
    steady_s: int,
    warmup_s: float,
) -> InflightRun:
    """One loader run: connections ramp over one median latency, settle for the rest of
    ``warmup_s``, then ``steady_s`` measured."""
    idle = tree_rss_kib(pid) / 1024 if pid else 0.0
    command = [
        base.PY,
        str(BENCH / "inflight_loader.py"),
        url,
        "--body",
        body,
        "--connections",
        str(conns),
        "--ramp",
        str(MEDIAN_S),
        "--warmup",
        str(warmup_s),
        "--measure",
        str(steady_s),
        *(["--auth", auth] if auth else []),
    ]
    sampler = TreeSampler(pid) if pid else None
    if sampler:
        sampler.__enter__()
    try:
        loader = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        # The server's CPU over the same steady window the loader counts answers in.
        time.sleep(warmup_s)
        cpu0 = cpu_seconds_tree(pid) if pid else 0.0
        time.sleep(steady_s)
        cpu1 = cpu_seconds_tree(pid) if pid else 0.0
        out, _ = loader.communicate(timeout=120)
        if loader.returncode:
            raise RuntimeError(f"the loader exited with {loader.returncode}")
    finally:
        if sampler:
            sampler.__exit__()
    run = InflightRun(target, conns, json.loads(out))
    if sampler and pid:
        run.peak_rss_mib = sampler.max_rss_kib / 1024
        run.peak_fds = sampler.max_fds
        run.idle_rss_mib = idle
        run.cpu_percent = 100 * (cpu1 - cpu0) / steady_s
    return run


def drain(sim_port: int) -> None:
    """Wait for the simulator's requests of the last run to finish before the next."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        stats = httpx.get(f"http://127.0.0.1:{sim_port}/admin/stats", timeout=10).json()
        if stats["in_flight"] == 0:
            return
        time.sleep(0.5)


def read_gateway_log(path: Path, offset: int) -> tuple[Counter[str], list[float], int]:
    """Statuses (with error codes) and added latency of the log lines after ``offset``."""
    statuses: Counter[str] = Counter()
    added: list[float] = []
    with path.open("rb") as f:
        f.seek(offset)
        data = f.read()
    for line in data.splitlines():
        if not line.startswith(b"{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") != "request":
            continue
        status = event.get("status")
        code = event.get("error_code")
        statuses[f"{status} {code}" if code else str(status)] += 1
        if status == 200 and "upstream_ms" in event:
            added.append(float(event["duration_ms"]) - float(event["upstream_ms"]))
    return statuses, added, offset + len(data)


def pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


class LoggedProc(base.Proc):
    """``bench/run.py``'s Proc with stdout (the gateway's JSON log lines) kept in a file."""

    def __init__(self, name: str, args: Sequence[str], env: dict[str, str], out: Path) -> None:
        self.name = name
        self.log = open(BENCH / "results" / f".{name}.log", "wb")  # noqa: SIM115
        self.out = open(out, "wb")  # noqa: SIM115
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            list(args), env=env, cwd=REPO, stdout=self.out, stderr=self.log
        )

    def stop(self) -> None:
        super().stop()
        self.out.close()


def gateway(prefix: str, sim_port: int, workers: int, out: Path) -> tuple[LoggedProc, str]:
    port = base.free_port()
    env = {**base.gateway_env(prefix, sim_port, "auto"), "TIERGATE_WORKERS": str(workers)}
    proc = LoggedProc(
        f"inflight-gateway-w{workers}",
        [*base.gateway_command(port), "--workers", str(workers)],
        env,
        out,
    )
    url = f"http://127.0.0.1:{port}/v1/images/generations"
    base.wait_ok(proc, "GET", f"http://127.0.0.1:{port}/healthz", timeout_s=60)
    check = httpx.post(
        url,
        content=base.GATEWAY_BODY,
        timeout=60,
        headers={"authorization": f"Bearer {base.KEY}", "content-type": "application/json"},
    )
    if check.status_code != 200:
        raise RuntimeError(f"the gateway answered {check.status_code}: {check.text[:300]}")
    return proc, url


def render(runs: list[InflightRun], image_b64_mib: float, header: str) -> str:
    lines = [
        header,
        "",
        "| target | in flight | req/s | of ideal | errors | added p50 / p99 (ms) | "
        "response p50 / p99 (s) | CPU (per 2xx) | peak RSS (MiB) | "
        "RSS growth per in-flight request | peak fds |",
        "|---|---:|---:|---:|---|---|---|---:|---:|---|---:|",
    ]
    for r in runs:
        added, total = r.loader["added_ms"], r.loader["total_ms"]
        added_text = f"{added['p50']} / {added['p99']}" if added["n"] else "n/a"
        total_text = (
            f"{total['p50'] / 1000:.2f} / {total['p99'] / 1000:.2f}" if total["p50"] else "n/a"
        )
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(r.errors.items())) or "0"
        per_request = "n/a"
        if r.peak_rss_mib:
            growth = max(0.0, r.peak_rss_mib - r.idle_rss_mib) / r.inflight
            per_request = f"{growth * 1024:.0f} KiB = {growth / image_b64_mib:.2f}x the image"
        lines.append(
            f"| {r.target} | {r.inflight:,} | {r.throughput:.1f} | "
            f"{100 * r.throughput / r.ideal:.1f}% | {errors} | {added_text} | {total_text} | "
            f"{r.cpu_text} | "
            f"{r.peak_rss_mib:.0f} | {per_request} | {r.peak_fds or 'n/a'} |"
        )
    lines.append("")
    lines.append(
        f"Ideal = in flight / {MEAN_S:.2f} s (the simulator's mean latency). Added latency = "
        "response time at the client minus the upstream time the server reported "
        "(`x-tiergate-upstream-ms`; the simulator's `openai-processing-ms` for direct). "
        "Errors are non-2xx answers by status and socket errors in the steady window; "
        "503s are the gateway's documented backpressure (`server_overloaded`)."
    )
    statuses = [f"{r.target} at {r.inflight:,}: {dict(r.statuses)}" for r in runs if r.statuses]
    if statuses:
        lines.append("")
        lines.append("Gateway log lines by status (whole run): " + "; ".join(statuses) + ".")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inflight", type=int, nargs="+", default=[1000, 5000, 10000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steady", type=int, default=20, help="measured seconds per run")
    parser.add_argument(
        "--warmup",
        type=float,
        default=30.0,
        help="seconds before the steady window: the ramp, the first answers 7 s later, and "
        "the adaptive in-flight limit settling (about 20 s on a fresh worker)",
    )
    parser.add_argument(
        "--image-bytes",
        type=int,
        default=1_100_000,
        help="PNG size of every image (default 1.1 MB: 1.40 MiB of base64)",
    )
    parser.add_argument("--peer", metavar="LITELLM_CLI", default=None)
    parser.add_argument("--skip-direct", action="store_true")
    parser.add_argument("--label", default="inflight")
    args = parser.parse_args(argv)

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    raise_open_file_limit(FD_LIMIT)  # the loader and servers inherit it
    prefix = "bench-" + uuid.uuid4().hex[:10]
    image_b64_mib = (args.image_bytes + 2) // 3 * 4 / 2**20
    sim_port = base.free_port()
    sim = base.Proc(
        "inflight-simulator",
        [
            base.PY,
            "-m",
            "gateway.simulator",
            "--port",
            str(sim_port),
            "--latency-scale",
            "1",
            "--profile",
            "efficient",
            "--image-bytes",
            str(args.image_bytes),
        ],
        {**os.environ},
    )
    runs: list[InflightRun] = []
    log_path = BENCH / "results" / ".inflight-gateway.jsonl"

    def report(run: InflightRun) -> None:
        runs.append(run)
        print(
            f"{run.target} {run.inflight}: {run.throughput:.1f} req/s "
            f"({100 * run.throughput / run.ideal:.1f}%), errors {run.errors}, "
            f"added {run.loader['added_ms']}, CPU {run.cpu_percent:.0f}%",
            file=sys.stderr,
            flush=True,
        )

    try:
        base.wait_ok(sim, "GET", f"http://127.0.0.1:{sim_port}/healthz")
        direct_url = f"http://127.0.0.1:{sim_port}/v1/images/generations"
        if not args.skip_direct:
            for level in args.inflight:
                report(
                    measure(
                        "direct",
                        direct_url,
                        base.DIRECT_BODY,
                        None,
                        level,
                        sim.pid,
                        args.steady,
                        args.warmup,
                    )
                )
                drain(sim_port)
        for workers in args.workers:
            gw, url = gateway(prefix, sim_port, workers, log_path)
            try:
                time.sleep(2)
                offset = log_path.stat().st_size
                for level in args.inflight:
                    run = measure(
                        f"tiergate, {workers} worker{'s' if workers > 1 else ''}",
                        url,
                        base.GATEWAY_BODY,
                        f"Bearer {base.KEY}",
                        level,
                        gw.pid,
                        args.steady,
                        args.warmup,
                    )
                    drain(sim_port)
                    run.statuses, run.log_added_ms, offset = read_gateway_log(log_path, offset)
                    report(run)
            finally:
                gw.stop()
        if args.peer:
            peer, peer_url, _ = base.start_peer(args.peer, sim_port)
            try:
                for level in args.inflight:
                    report(
                        measure(
                            "LiteLLM proxy",
                            peer_url,
                            base.PEER_BODY,
                            f"Bearer {base.PEER_KEY}",
                            level,
                            peer.pid,
                            args.steady,
                            args.warmup,
                        )
                    )
                    drain(sim_port)
            finally:
                peer.stop()
    finally:
        sim.stop()
        print(f"deleted {base.delete_prefix(prefix)} Redis keys under {prefix}:", file=sys.stderr)

    now = dt.datetime.now(dt.UTC)
    header = (
        f"## tiergate in-flight bench — {now:%Y-%m-%d %H:%M} UTC, simulator at --latency-scale 1 "
        f"(efficient, median {MEDIAN_S:g} s, mean {MEAN_S:.2f} s), {args.image_bytes:,}-byte PNGs "
        f"({image_b64_mib:.2f} MiB base64), Redis store, {args.steady} s steady window after "
        f"{args.warmup:g} s per run, "
        f"{os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.1f}"
    )
    table = render(runs, image_b64_mib, header)
    print(table)
    name = f"{now:%Y-%m-%d}-{args.label}.md"
    (BENCH / "results" / name).write_text(table)
    print(f"written to bench/results/{name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
