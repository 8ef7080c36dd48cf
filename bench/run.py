"""One-command gateway benchmark: direct-to-simulator vs through the gateway, memory, start-up.

Run from the repo root::

    LITELLM_LOCAL_MODEL_COST_MAP=True .venv/bin/python bench/run.py [--backend auto|litellm]

It starts a zero-latency tier simulator, a Redis-backed gateway (one worker, the full path:
auth, classify, decide, reserve, upstream, settle, ledger; policy ``bench/policy.yaml``) and
drives both with wrk (``bench/post.lua``; installed with apt-get when missing and running as
root, else ``bench/bench_loader.py``, an asyncio fallback). Each concurrency (1, 16, 64) is measured
``--repeats`` times, direct and gateway interleaved, and every figure is the median over
repeats with the min-max spread. Also: idle and under-load RSS, start to first 200, peak RSS
growth per in-flight request for a 4 MiB image (``bench/large_image_sim.py``), and the
classifier microbenchmark (``bench/classify_bench.py``). Prints one markdown table and writes
it to ``bench/results/<date>[-<label>].md``. Redis keys live under a unique prefix, deleted
at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PY = sys.executable
KEY = "tg-bench-key"
PROMPT = "a cozy reading nook with a cat asleep on a pile of books, watercolor"
GATEWAY_BODY = json.dumps({"model": "auto", "prompt": PROMPT, "size": "1024x1024"})
# What the gateway itself sends upstream for that request (litellm's OpenAI image call).
DIRECT_BODY = json.dumps(
    {
        "model": "mai-image-2-efficient",
        "prompt": PROMPT,
        "n": 1,
        "size": "1024x1024",
        "quality": "auto",
    }
)
PEER_KEY = "sk-peer-bench"
# The same image call through the peer proxy (its model alias for the efficient tier).
PEER_BODY = json.dumps({"model": "mai-image-2-efficient", "prompt": PROMPT, "size": "1024x1024"})
REDIS_URL = os.environ.get("TIERGATE_BENCH_REDIS", "redis://127.0.0.1:6379/0")
IMAGE_BYTES = 4 * 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_kib(pid: int, field_name: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field_name} not found for {pid}")


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0, same user or root)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Proc:
    """A child process we started; stopped by its own PID only."""

    def __init__(self, name: str, args: Sequence[str], env: dict[str, str]) -> None:
        self.name = name
        self.log = open(BENCH / "results" / f".{name}.log", "wb")  # noqa: SIM115
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            list(args), env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=self.log
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def check(self) -> None:
        if self.proc.poll() is not None:
            tail = (BENCH / "results" / f".{self.name}.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {tail}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def wait_ok(proc: Proc, method: str, url: str, timeout_s: float = 60.0, **kw: object) -> float:
    """Seconds from the process start to the first 200 answer to ``method url``."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < deadline:
            proc.check()
            try:
                if client.request(method, url, **kw).status_code == 200:  # type: ignore[arg-type]
                    return time.perf_counter() - proc.started
            except httpx.HTTPError:
                pass
            time.sleep(0.01)
    raise RuntimeError(f"{url} gave no 200 within {timeout_s} s")


# -- load generation ---------------------------------------------------------------------------


@dataclass
class Run:
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int
    requests: int


def ensure_wrk() -> str | None:
    path = shutil.which("wrk")
    if path is None and os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk (apt-get install -y wrk)", file=sys.stderr)
        subprocess.run(
            ["apt-get", "install", "-y", "wrk"],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        path = shutil.which("wrk")
    return path


def load(wrk: str | None, url: str, body: str, auth: str | None, conns: int, seconds: float) -> Run:
    if wrk is None:
        from bench_loader import run_load  # type: ignore[import-not-found]

        return Run(**run_load(url, body, auth, conns, seconds))
    env = {**os.environ, "BENCH_BODY": body, "BENCH_AUTH": auth or ""}
    out = subprocess.run(
        [
            wrk,
            "-t1",
            f"-c{conns}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(BENCH / "post.lua"),
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"BENCH_JSON (\{.*\})", out)
    if match is None:
        raise RuntimeError(f"wrk printed no BENCH_JSON line:\n{out}")
    r = json.loads(match.group(1))
    errors = sum(r[k] for k in r if k.startswith("err_"))
    return Run(
        rps=r["requests"] / (r["duration_us"] / 1e6),
        p50_ms=r["p50_us"] / 1000,
        p90_ms=r["p90_us"] / 1000,
        p99_ms=r["p99_us"] / 1000,
        errors=errors,
        requests=r["requests"],
    )


class RssSampler:
    """Samples a process's RSS every ``interval_s`` in a thread; keeps the maximum."""

    def __init__(self, pid: int, interval_s: float = 0.05) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.max_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.max_kib = max(self.max_kib, rss_kib(self.pid))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# -- the table --------------------------------------------------------------------------------


@dataclass
class Row:
    measure: str
    values: list[float] = field(default_factory=list)
    unit: str = ""
    target: str = ""
    passed: bool | None = None
    note: str = ""

    def render(self) -> str:
        if not self.values:
            value, spread = "n/a", ""
        else:
            med = statistics.median(self.values)
            value = _fmt(med)
            spread = (
                f"{_fmt(min(self.values))}–{_fmt(max(self.values))}" if len(self.values) > 1 else ""
            )
        ok = "" if self.passed is None else ("yes" if self.passed else "**no**")
        unit = f" ({self.unit})" if self.unit else ""
        note = f" {self.note}" if self.note else ""
        return f"| {self.measure}{unit}{note} | {value} | {spread} | {self.target} | {ok} |"


def _fmt(x: float) -> str:
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


# -- the benchmark ----------------------------------------------------------------------------


def gateway_command(port: int) -> list[str]:
    return [PY, "-m", "gateway.cli", "serve", "--port", str(port)]


def gateway_env(prefix: str, sim_port: int, backend: str) -> dict[str, str]:
    base = f"http://127.0.0.1:{sim_port}/v1"
    return {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "TIERGATE_POLICY": str(BENCH / "policy.yaml"),
        "TIERGATE_STORE": REDIS_URL,
        "TIERGATE_STORE_KEY_PREFIX": prefix,
        "TIERGATE_LOG_FORMAT": "json",
        "TIERGATE_LOG_LEVEL": "info",
        "TIERGATE_BENCH_EFFICIENT_BASE": base,
        "TIERGATE_BENCH_FLAGSHIP_BASE": base,
        "TIERGATE_UPSTREAM": backend,
    }


def start_gateway(backend: str, prefix: str, sim_port: int, name: str) -> tuple[Proc, str, float]:
    port = free_port()
    proc = Proc(name, gateway_command(port), gateway_env(prefix, sim_port, backend))
    url = f"http://127.0.0.1:{port}/v1/images/generations"
    first_200_s = wait_ok(
        proc,
        "POST",
        url,
        content=GATEWAY_BODY,
        headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"},
    )
    return proc, url, first_200_s


def start_peer(litellm_cli: str, sim_port: int) -> tuple[Proc, str, float]:
    """LiteLLM's proxy (one uvicorn worker, no database, master-key auth) on the simulator."""
    config = BENCH / "results" / ".peer-config.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: mai-image-2-efficient\n"
        "    litellm_params:\n"
        "      model: openai/mai-image-2-efficient\n"
        f"      api_base: http://127.0.0.1:{sim_port}/v1\n"
        "      api_key: sk-simulator\n"
        "general_settings:\n"
        f"  master_key: {PEER_KEY}\n"
    )
    port = free_port()
    proc = Proc(
        "peer",
        [litellm_cli, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
        {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    )
    url = f"http://127.0.0.1:{port}/v1/images/generations"
    first_200_s = wait_ok(
        proc,
        "POST",
        url,
        timeout_s=180,
        content=PEER_BODY,
        headers={"authorization": f"Bearer {PEER_KEY}", "content-type": "application/json"},
    )
    return proc, url, first_200_s


def start_simulator(args: list[str], name: str) -> tuple[Proc, int]:
    port = free_port()
    proc = Proc(
        name,
        [*args, "--port", str(port), "--latency-scale", "0", "--profile", "efficient"],
        {**os.environ},
    )
    wait_ok(proc, "GET", f"http://127.0.0.1:{port}/healthz")
    return proc, port


async def _post_many(url: str, count: int, prompt: str) -> list[int]:
    body = json.dumps({"model": "auto", "prompt": prompt, "size": "1024x1024"})
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=count)) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    url,
                    content=body,
                    headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"},
                )
                for _ in range(count)
            )
        )
        return [r.status_code for r in responses]


def large_image_memory(
    backend: str, prefix: str, inflight: Sequence[int], rounds: int
) -> list[tuple[int, list[float], int]]:
    """Per level: (in-flight, [peak RSS growth per request in MiB, cold round first], errors).

    A fresh gateway per level, warmed with small images only, so the first large round
    measures fresh heap growth (later rounds reuse freed memory and read lower).
    """
    sim, sim_port = start_simulator(
        [PY, str(BENCH / "large_image_sim.py"), "--image-bytes", str(IMAGE_BYTES)], "large-sim"
    )
    out = []
    try:
        for level in inflight:
            gw, url, _ = start_gateway(backend, prefix, sim_port, "large-gateway")
            try:
                for _ in range(3):
                    asyncio.run(_post_many(url, level, PROMPT))
                growths, errors = [], 0
                for _ in range(rounds):
                    time.sleep(0.3)
                    before = rss_kib(gw.pid)
                    if not reset_peak_rss(gw.pid):
                        raise RuntimeError("cannot reset VmHWM (need /proc/<pid>/clear_refs)")
                    statuses = asyncio.run(_post_many(url, level, PROMPT + " [large]"))
                    errors += sum(s != 200 for s in statuses)
                    growths.append((rss_kib(gw.pid, "VmHWM") - before) / 1024 / level)
                out.append((level, growths, errors))
            finally:
                gw.stop()
        return out
    finally:
        sim.stop()


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def classifier_rows() -> list[Row]:
    out = subprocess.run(
        [PY, str(BENCH / "classify_bench.py")],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    )
    rows = []
    for line in out.stdout.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 5 and cells[2].isdigit():
            suite, p50, p99 = cells[0], float(cells[2]), float(cells[3])
            rows.append(Row(f"classifier p50 — {suite}", [p50], "µs"))
            # The target is on the dev prompt set; the long-prompt suites are stress figures.
            target = suite == "dev"
            rows.append(
                Row(
                    f"classifier p99 — {suite}",
                    [p99],
                    "µs",
                    note=f"(max {cells[4]})",
                    target="<= 200" if target else "",
                    passed=(p99 <= 200) if target else None,
                )
            )
    if not rows:
        rows.append(Row("classifier", note=f"failed: {out.stderr[-200:]}"))
    return rows


def delete_prefix(prefix: str) -> int:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    deleted = 0
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        deleted += client.delete(key)
    client.close()
    return deleted


def peer_rows(
    levels: Sequence[int],
    results: dict[tuple[str, int], list[Run]],
    cpu_ms: dict[tuple[str, int], list[float]],
) -> list[Row]:
    """The peer proxy's figures, next to the gateway's: same simulator, same repeats."""
    rows = []
    for c in levels:
        d, p = results[("direct", c)], results[("peer", c)]
        rows.append(Row(f"c={c} peer proxy req/s", [r.rps for r in p]))
        for q in ("p50", "p99"):
            rows.append(Row(f"c={c} peer proxy {q}", [getattr(r, f"{q}_ms") for r in p], "ms"))
            rows.append(
                Row(
                    f"c={c} peer proxy overhead {q} (peer − direct)",
                    [
                        getattr(pr, f"{q}_ms") - getattr(dr, f"{q}_ms")
                        for pr, dr in zip(p, d, strict=True)
                    ],
                    "ms",
                )
            )
        rows.append(Row(f"c={c} peer proxy CPU per request (user+sys)", cpu_ms[("peer", c)], "ms"))
        rows.append(
            Row(
                f"c={c} peer proxy errors / requests",
                [sum(r.errors for r in p)],
                note=f"of {sum(r.requests for r in p)}",
            )
        )
    return rows


def main() -> int:
    if "--inflight" in sys.argv[1:]:  # the real load shape: bench/inflight.py takes the rest
        sys.path.insert(0, str(BENCH))
        import inflight

        return inflight.main(sys.argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--backend",
        choices=("auto", "litellm"),
        default="auto",
        help="TIERGATE_UPSTREAM of the gateway: auto (the default; the direct path of "
        "gateway/upstream/direct.py for OpenAI- and MAI-shaped tiers) or litellm for every tier",
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-inflight", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--memory-rounds", type=int, default=3)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-classifier", action="store_true")
    parser.add_argument("--label", default="", help="suffix of the results file name")
    parser.add_argument(
        "--peer",
        metavar="LITELLM_CLI",
        default=None,
        help="also measure LiteLLM's proxy: the `litellm` command of a venv made from "
        "bench/peer-requirements.txt (e.g. bench/.peer/bin/litellm)",
    )
    args = parser.parse_args()

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    sys.path.insert(0, str(BENCH))
    wrk = ensure_wrk()
    prefix = "bench-" + uuid.uuid4().hex[:10]
    rows: list[Row] = []
    procs: list[Proc] = []
    try:
        sim, sim_port = start_simulator([PY, "-m", "gateway.simulator"], "simulator")
        procs.append(sim)
        direct_url = f"http://127.0.0.1:{sim_port}/v1/images/generations"
        gw, gw_url, first_200_s = start_gateway(args.backend, prefix, sim_port, "gateway")
        procs.append(gw)
        check = httpx.post(
            gw_url,
            content=GATEWAY_BODY,
            timeout=10,
            headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"},
        )
        assert check.status_code == 200 and check.headers.get("x-tiergate-tier"), check.text[:300]
        time.sleep(2.0)
        idle_rss_mib = rss_kib(gw.pid) / 1024
        peer: Proc | None = None
        if args.peer:
            peer, peer_url, peer_first_200_s = start_peer(args.peer, sim_port)
            procs.append(peer)
            time.sleep(2.0)
            peer_idle_rss_mib = rss_kib(peer.pid) / 1024

        results: dict[tuple[str, int], list[Run]] = {}
        cpu_ms: dict[tuple[str, int], list[float]] = {}
        peak_rss_kib = 0
        for c in args.concurrency:  # warm both paths at each level once
            load(wrk, direct_url, DIRECT_BODY, None, c, 1.0)
            load(wrk, gw_url, GATEWAY_BODY, f"Bearer {KEY}", c, 1.0)
            if peer is not None:
                load(wrk, peer_url, PEER_BODY, f"Bearer {PEER_KEY}", c, 1.0)
        for rep in range(args.repeats):
            for c in args.concurrency:
                cpu0 = cpu_seconds(sim.pid)
                results.setdefault(("direct", c), []).append(
                    load(wrk, direct_url, DIRECT_BODY, None, c, args.duration)
                )
                cpu_ms.setdefault(("simulator", c), []).append(
                    (cpu_seconds(sim.pid) - cpu0) * 1000 / results[("direct", c)][-1].requests
                )
                cpu0 = cpu_seconds(gw.pid)
                with RssSampler(gw.pid) as sampler:
                    results.setdefault(("gateway", c), []).append(
                        load(wrk, gw_url, GATEWAY_BODY, f"Bearer {KEY}", c, args.duration)
                    )
                cpu_ms.setdefault(("gateway", c), []).append(
                    (cpu_seconds(gw.pid) - cpu0) * 1000 / results[("gateway", c)][-1].requests
                )
                peak_rss_kib = max(peak_rss_kib, sampler.max_kib)
                if peer is not None:
                    cpu0 = cpu_seconds(peer.pid)
                    results.setdefault(("peer", c), []).append(
                        load(wrk, peer_url, PEER_BODY, f"Bearer {PEER_KEY}", c, args.duration)
                    )
                    cpu_ms.setdefault(("peer", c), []).append(
                        (cpu_seconds(peer.pid) - cpu0) * 1000 / results[("peer", c)][-1].requests
                    )
                g, d = results[("gateway", c)][-1], results[("direct", c)][-1]
                print(
                    f"rep {rep + 1} c={c}: direct {d.rps:.0f} rps p50 {d.p50_ms:.2f} "
                    f"p99 {d.p99_ms:.2f} | gateway {g.rps:.0f} rps p50 {g.p50_ms:.2f} "
                    f"p99 {g.p99_ms:.2f} err {g.errors}"
                    + (
                        f" | peer {results[('peer', c)][-1].rps:.0f} rps "
                        f"p50 {results[('peer', c)][-1].p50_ms:.2f} "
                        f"p99 {results[('peer', c)][-1].p99_ms:.2f}"
                        if peer is not None
                        else ""
                    ),
                    file=sys.stderr,
                    flush=True,
                )

        for c in args.concurrency:
            d, g = results[("direct", c)], results[("gateway", c)]
            rows.append(Row(f"c={c} direct req/s", [r.rps for r in d]))
            t_rps = ">= 600" if c == 64 else ""
            rows.append(
                Row(
                    f"c={c} gateway req/s",
                    [r.rps for r in g],
                    target=t_rps,
                    passed=(statistics.median(r.rps for r in g) >= 600) if t_rps else None,
                )
            )
            for q in ("p50", "p90", "p99"):
                rows.append(Row(f"c={c} direct {q}", [getattr(r, f"{q}_ms") for r in d], "ms"))
                target, ok = "", None
                if c == 64 and q == "p99":
                    target = "<= 150"
                    ok = statistics.median(r.p99_ms for r in g) <= 150
                rows.append(
                    Row(f"c={c} gateway {q}", [getattr(r, f"{q}_ms") for r in g], "ms", target, ok)
                )
            for q, limit in (("p50", 1.5), ("p99", 4.0)):
                over = [
                    getattr(gr, f"{q}_ms") - getattr(dr, f"{q}_ms")
                    for gr, dr in zip(g, d, strict=True)
                ]
                target = f"<= {limit}" if c == 1 else ""
                rows.append(
                    Row(
                        f"c={c} overhead {q} (gateway − direct)",
                        over,
                        "ms",
                        target,
                        statistics.median(over) <= limit if c == 1 else None,
                    )
                )
            rows.append(
                Row(
                    f"c={c} gateway CPU per request (user+sys)",
                    cpu_ms[("gateway", c)],
                    "ms",
                    note="(noise-resistant cost figure)",
                )
            )
            rows.append(
                Row(f"c={c} simulator CPU per request (direct run)", cpu_ms[("simulator", c)], "ms")
            )
            errs = sum(r.errors for r in g)
            rows.append(
                Row(
                    f"c={c} gateway errors / requests",
                    [errs],
                    note=f"of {sum(r.requests for r in g)}",
                    target="0" if c == 64 else "",
                    passed=(errs == 0) if c == 64 else None,
                )
            )
        if peer is not None:
            rows += peer_rows(args.concurrency, results, cpu_ms)
            rows.append(Row("peer proxy idle RSS", [peer_idle_rss_mib], "MiB"))
            rows.append(Row("peer proxy start to first 200", [peer_first_200_s], "s"))
            peer.stop()
            procs.remove(peer)
        rows.append(Row("gateway idle RSS", [idle_rss_mib], "MiB", "<= 200", idle_rss_mib <= 200))
        rows.append(Row("gateway RSS under load (peak)", [peak_rss_kib / 1024], "MiB"))
        rows.append(Row("start to first 200", [first_200_s], "s", "<= 3", first_200_s <= 3))
        gw.stop()
        procs.remove(gw)

        if not args.skip_memory:
            b64_mib = (IMAGE_BYTES + 2) // 3 * 4 / 2**20
            for level, growths, errors in large_image_memory(
                args.backend, prefix, args.memory_inflight, args.memory_rounds
            ):
                growth = growths[0]
                ratio = growth / (IMAGE_BYTES / 2**20)
                rows.append(
                    Row(
                        f"4 MiB image ({b64_mib:.2f} MiB base64), {level} in flight: "
                        "peak RSS growth "
                        "per request, cold round",
                        growths[:1],
                        "MiB",
                        note=f"= {ratio:.2f}x the image, {growth / b64_mib:.2f}x its base64; warm "
                        f"rounds {', '.join(_fmt(g) for g in growths[1:])}"
                        + (f", {errors} errors" if errors else ""),
                        target="<= 3x (12 MiB)",
                        passed=ratio <= 3 and errors == 0,
                    )
                )
        if not args.skip_classifier:
            rows += classifier_rows()
    finally:
        for proc in reversed(procs):
            proc.stop()
        deleted = delete_prefix(prefix)
        print(f"deleted {deleted} Redis keys under {prefix}:", file=sys.stderr)

    now = dt.datetime.now(dt.UTC)
    header = (
        f"## tiergate bench — {now:%Y-%m-%d %H:%M} UTC, backend `{args.backend}`, "
        f"{'wrk' if wrk else 'asyncio loader'}, {args.repeats} x {args.duration:g} s per point, "
        f"{os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.1f}"
        + (", peer: LiteLLM proxy" if args.peer else "")
        + "\n\n"
        "Value = median over repeats; spread = min–max.\n\n"
        "| measure | value | spread | target | met |\n|---|---:|---:|---|---|"
    )
    table = "\n".join([header, *(r.render() for r in rows)]) + "\n"
    print(table)
    name = f"{now:%Y-%m-%d}" + (f"-{args.label}" if args.label else "") + ".md"
    (BENCH / "results" / name).write_text(table)
    print(f"written to bench/results/{name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
