"""Running a simulator under uvicorn: as the process's server, or in a thread for tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

import uvicorn

from gateway.simulator.app import create_simulator_app
from gateway.simulator.config import SimulatorConfig

DEFAULT_HOST: Final = "127.0.0.1"
GRACEFUL_SHUTDOWN_S: Final = 5


def run_simulator(host: str, port: int, config: SimulatorConfig) -> None:
    """Serve the simulator on ``host:port`` until interrupted."""
    uvicorn.run(
        create_simulator_app(config),
        host=host,
        port=port,
        loop="auto",
        http="auto",
        ws="none",
        lifespan="on",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )


@dataclass(frozen=True)
class RunningSimulator:
    """A simulator serving in a background thread (see :func:`running_simulator`)."""

    host: str
    port: int
    config: SimulatorConfig

    @property
    def base_url(self) -> str:
        """``http://host:port``: the ``api_base`` for ``azure_ai/MAI-Image-*``."""
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """``http://host:port/v1``: the ``api_base`` for ``openai/gpt-image-1``."""
        return f"{self.base_url}/v1"


@contextmanager
def running_simulator(
    config: SimulatorConfig,
    host: str = DEFAULT_HOST,
    port: int = 0,
    startup_timeout_s: float = 10.0,
) -> Iterator[RunningSimulator]:
    """Serve ``config`` in a daemon thread (port 0 = a free port); stop it on exit.

    The socket is bound before the thread starts, so the port is known and race-free.
    Leaves the process's logging configuration alone.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port: int = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_simulator_app(config),
            loop="auto",
            http="auto",
            ws="none",
            lifespan="on",
            access_log=False,
            log_level="warning",
            log_config=None,
            timeout_graceful_shutdown=1,
        )
    )
    thread = threading.Thread(
        target=server.run,
        kwargs={"sockets": [sock]},
        name=f"tiergate-simulator-{config.profile}-{bound_port}",
        daemon=True,
    )
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the simulator on {host}:{bound_port} did not start")
            time.sleep(0.01)
        yield RunningSimulator(host=host, port=bound_port, config=config)
    finally:
        server.should_exit = True
        thread.join(timeout=GRACEFUL_SHUTDOWN_S + 5)
        sock.close()
