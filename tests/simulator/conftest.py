"""Fixtures: one zero-latency simulator per session, reset before each test that uses it."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from gateway.simulator import RunningSimulator, SimulatorConfig, running_simulator


@pytest.fixture(scope="session")
def tls_context() -> ssl.SSLContext:
    """One SSL context for every httpx client: building one per client costs ~30 ms."""
    return ssl.create_default_context()


@pytest.fixture(scope="session")
def simulator_server(tls_context: ssl.SSLContext) -> Iterator[RunningSimulator]:
    """A flagship simulator on a free 127.0.0.1 port, in a thread, with no latency."""
    with running_simulator(SimulatorConfig(profile="flagship", latency_scale=0)) as running:
        yield running


@pytest.fixture(scope="session")
def admin_http(
    simulator_server: RunningSimulator, tls_context: ssl.SSLContext
) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=simulator_server.base_url, verify=tls_context) as http:
        yield http


@pytest.fixture
def simulator(simulator_server: RunningSimulator, admin_http: httpx.Client) -> RunningSimulator:
    """The session simulator with faults and counters reset (``POST /admin/reset``)."""
    admin_http.post("/admin/reset").raise_for_status()
    return simulator_server


@pytest.fixture
async def client(
    simulator: RunningSimulator, tls_context: ssl.SSLContext
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client for the reset session simulator."""
    async with httpx.AsyncClient(
        base_url=simulator.base_url, timeout=5.0, verify=tls_context
    ) as http:
        yield http
