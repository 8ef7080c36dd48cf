"""The simulator's command line: flags to config, and a real ``python -m gateway.simulator``."""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from gateway.simulator.__main__ import add_simulate_arguments, config_from_args, simulate_command
from gateway.simulator.config import SimulatorConfig


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_simulate_arguments(parser)
    return parser.parse_args(argv)


def test_defaults() -> None:
    args = _parse("--port", "9001")
    assert (args.host, args.port) == ("127.0.0.1", 9001)
    assert config_from_args(args) == SimulatorConfig()


def test_every_flag_reaches_the_config() -> None:
    args = _parse(
        "--port", "9001", "--profile", "efficient", "--latency-scale", "0",
        "--latency-seed", "4", "--api-key", "sk-x", "--image-cache-size", "8",
        "--error-rate", "0.1", "--rate-limit-rate", "0.2", "--hang-rate", "0.05",
        "--slow-body-rate", "0.05", "--malformed-rate", "0.05", "--reset-rate", "0.05",
        "--fail-next", "2", "--fail-next-status", "503", "--retry-after-s", "3",
        "--hang-s", "10", "--slow-body-s", "1.5", "--fault-seed", "9",
    )  # fmt: skip
    assert config_from_args(args) == SimulatorConfig(
        profile="efficient", latency_scale=0, latency_seed=4, api_key="sk-x",
        image_cache_size=8, error_rate=0.1, rate_limit_rate=0.2, hang_rate=0.05,
        slow_body_rate=0.05, malformed_rate=0.05, reset_rate=0.05, fail_next=2,
        fail_next_status=503, retry_after_s=3, hang_s=10, slow_body_s=1.5, fault_seed=9,
    )  # fmt: skip


def test_invalid_settings_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert simulate_command(_parse("--port", "9001", "--error-rate", "1.5")) == 2
    assert "error_rate" in capsys.readouterr().err


def test_python_m_gateway_simulator_serves() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.simulator", "--port", str(port),
         "--profile", "efficient", "--latency-scale", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the simulator did not start"
                time.sleep(0.05)
        assert health.json() == {"status": "ok", "profile": "efficient"}
        assert health.headers["x-tiergate-simulator"] == "efficient"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it caught
