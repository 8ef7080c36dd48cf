"""The image's ENTRYPOINT, ENV and HEALTHCHECK, run on the host (no Docker engine here).

Reads them from deploy/docker/Dockerfile, starts the entrypoint from this virtual environment
with the image's environment and the compose policy, and runs the HEALTHCHECK command against
it: what `docker run` would do, minus the container. Only the bind address is changed, to
loopback, and the port, to a free one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.deploy.dockerfile import (
    DOCKERFILE,
    env_values,
    exec_form,
    healthcheck_command,
    parse_dockerfile,
)
from tests.support import REPO, free_port

pytestmark = pytest.mark.slow

START_TIMEOUT_S = 90.0  # importing litellm alone takes 5-10 s on a busy machine
DRAIN_SECONDS = 2


def _healthcheck(argv: list[str], env: dict[str, str]) -> int:
    return subprocess.run(argv, env=env, capture_output=True, timeout=10).returncode


def test_entrypoint_starts_and_the_healthcheck_follows_it(tmp_path: Path) -> None:
    instructions = parse_dockerfile(DOCKERFILE.read_text())
    stage = max(i.stage for i in instructions)
    image_env = env_values(instructions, stage)
    (entrypoint,) = [
        exec_form(i.args) for i in instructions if i.keyword == "ENTRYPOINT" and i.stage == stage
    ]
    health = healthcheck_command(instructions, stage)

    bin_dir = Path(sys.executable).parent
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERGATE_")}
    env.update({k: v for k, v in image_env.items() if k != "PATH"})
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        TIERGATE_HOST="127.0.0.1",
        TIERGATE_PORT=str(port),
        TIERGATE_POLICY=str(REPO / "deploy" / "policy" / "compose.yaml"),
        TIERGATE_STORE="memory://",
        TIERGATE_DRAIN_SECONDS=str(DRAIN_SECONDS),
    )
    assert health[0] == "python"
    health_argv = [str(bin_dir / "python"), *health[1:]]

    assert _healthcheck(health_argv, env) != 0, "healthcheck passes with nothing listening"

    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(bin_dir / entrypoint[0]), *entrypoint[1:]],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while _healthcheck(health_argv, env) != 0:
            assert proc.poll() is None, f"exited {proc.returncode}: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"not healthy in {START_TIMEOUT_S} s"
            time.sleep(0.2)
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text

        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=DRAIN_SECONDS + 15)
        # uvicorn exits 0, or re-raises the SIGTERM it handled after draining.
        assert proc.returncode in (0, -signal.SIGTERM), log.read_text()[-2000:]
        assert _healthcheck(health_argv, env) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
