"""Helpers for tests that run real processes: free ports, servers, and Redis availability."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("TIERGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """A child process serving HTTP on loopback; stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(
        self,
        args: Sequence[str],
        port: int,
        env: Mapping[str, str] | None = None,
        health_path: str = "/healthz",
    ) -> None:
        self.args = list(args)
        self.port = port
        self.env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", **(env or {})}
        self.health_path = health_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self) -> Server:
        # stderr goes to a file, not a pipe nobody reads (a full pipe would block the server).
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            self.args, env=self.env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=self.stderr
        )
        return self

    def stderr_text(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def start(self, timeout_s: float = 60.0) -> Server:
        if self.proc is None:
            self.spawn()
        return self.wait_healthy(timeout_s)

    def wait_healthy(self, timeout_s: float = 60.0) -> Server:
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.stderr_text()
                raise RuntimeError(f"{self.args} exited with {self.proc.returncode}: {err[-2000:]}")
            try:
                if httpx.get(self.url + self.health_path, timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.args} did not become healthy in {timeout_s} s")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def simulator(profile: str, port: int | None = None, *extra: str) -> Server:
    port = port or free_port()
    return Server(
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
            *extra,
        ],
        port,
    )


def gateway(policy: Path, env: Mapping[str, str] | None = None, port: int | None = None) -> Server:
    port = port or free_port()
    return Server(
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
        port,
        env=env,
    )


def redis_available(url: str = REDIS_URL) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def require_redis() -> None:
    """Skip when Redis is absent, unless TIERGATE_REQUIRE_REDIS=1 (CI) makes that a failure."""
    if redis_available():
        return
    if os.environ.get("TIERGATE_REQUIRE_REDIS") == "1":
        pytest.fail(f"Redis is required (TIERGATE_REQUIRE_REDIS=1) but {REDIS_URL} does not answer")
    pytest.skip(f"Redis at {REDIS_URL} does not answer")


def s3_server() -> Server:
    """A real S3-compatible HTTP server on loopback (moto's server mode), for s3:// tests."""
    port = free_port()
    moto = Path(sys.executable).with_name("moto_server")
    return Server([str(moto), "-H", "127.0.0.1", "-p", str(port)], port, health_path="/")


def create_bucket(server: Server, bucket: str) -> str:
    """Create ``bucket`` on ``server`` and return the ``s3://`` URL of a prefix in it."""
    httpx.put(f"{server.url}/{bucket}", timeout=5).raise_for_status()
    return f"s3://{bucket}/tiergate?endpoint={server.url}&region=us-east-1"
