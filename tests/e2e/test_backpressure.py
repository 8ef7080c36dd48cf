"""A real `tiergate serve` past its in-flight cap: 503 server_overloaded with Retry-After, nothing charged."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import resource
import socket
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from gateway.api.backpressure import CapacityEstimate, LoopLagMonitor
from gateway.fdlimit import descriptors_needed
from tests.conftest import ADMIN_KEY
from tests.e2e.test_replicas import AUTH, PROMPT, URL, start_replicas, team_budget
from tests.support import Server, require_redis, simulator

pytestmark = [pytest.mark.redis, pytest.mark.slow]
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture(scope="module")
def slow_sims() -> Iterator[dict[str, Server]]:
    """Simulators at 0.4 x the vendors' latency (about 3 s a call), so requests stay in flight."""
    require_redis()
    servers = {p: simulator(p) for p in ("efficient", "flagship")}
    for server in servers.values():
        server.args[server.args.index("--latency-scale") + 1] = "0.4"
        server.start()
    yield servers
    for server in servers.values():
        server.stop()


def metric(server: Server, name: str) -> float:
    text = httpx.get(server.url + "/metrics", headers=ADMIN).text
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


async def wait_in_flight(server: Server, count: int, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while metric(server, "tiergate_in_flight_requests") < count:
        assert time.monotonic() < deadline, "the held requests never reached the gateway"
        await asyncio.sleep(0.02)


async def test_past_the_cap_new_requests_get_503_with_retry_after_and_cost_nothing(
    tmp_path: Path, slow_sims: dict[str, Server]
) -> None:
    alpha = {"budgets": [{"period": "day", "limit_usd": "100"}]}
    with start_replicas(tmp_path, slow_sims, 1, alpha, TIERGATE_MAX_IN_FLIGHT="2") as replicas:
        server = replicas.servers[0]
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            held = [
                asyncio.create_task(client.post(URL, json={"prompt": PROMPT}, headers=AUTH))
                for _ in range(2)
            ]
            await wait_in_flight(server, 2)
            refused = await client.post(URL, json={"prompt": PROMPT}, headers=AUTH)
            # Reads and other routes are not counted: the budget still answers.
            assert (await client.get("/v1/budget", headers=AUTH)).status_code == 200
            answered = await asyncio.gather(*held)

            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "5"
            assert refused.headers["x-tiergate-request-id"].startswith("req_")
            assert refused.json() == {
                "error": {
                    "message": refused.json()["error"]["message"],
                    "type": "service_unavailable",
                    "param": None,
                    "code": "server_overloaded",
                }
            }
            assert "limit of 2 requests in flight" in refused.json()["error"]["message"]
            assert [r.status_code for r in answered] == [200, 200]

            # Only the two answered calls were charged; the refused one never reserved.
            window = team_budget(server)
            charged = sum(
                round(Decimal(r.headers["x-tiergate-cost-usd"]) * 1_000_000) for r in answered
            )
            assert window["spent_micros"] == charged
            assert window["reserved_micros"] == 0
            assert metric(server, 'tiergate_overload_refusals_total{reason="in_flight"}') == 1
            assert metric(server, "tiergate_in_flight_requests") == 0

            # With room again, the next request is served.
            again = await client.post(URL, json={"prompt": PROMPT}, headers=AUTH)
            assert again.status_code == 200


def soft_open_file_limit(pid: int) -> int:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError("no open-file limit in /proc")


def test_serve_raises_a_low_open_file_limit_to_what_the_in_flight_cap_needs(
    tmp_path: Path, slow_sims: dict[str, Server]
) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    needed = descriptors_needed(3000)
    if hard != resource.RLIM_INFINITY and hard < needed and os.geteuid() != 0:
        pytest.fail(f"this machine's hard open-file limit {hard} is below {needed}")
    replicas = start_replicas(tmp_path, slow_sims, 1, {}, TIERGATE_MAX_IN_FLIGHT="3000")
    server = replicas.servers[0]
    # Started as a service manager with a default soft limit of 512 would start it.
    lower = f"import resource as r; r.setrlimit(r.RLIMIT_NOFILE, (512, {hard}))"
    server.args = [
        sys.executable,
        "-c",
        f"{lower}; import sys, runpy; sys.argv = ['tiergate', *sys.argv[1:]]; "
        "runpy.run_module('gateway.cli', run_name='__main__')",
        *server.args[server.args.index("serve") :],
    ]
    with replicas:
        assert server.proc is not None
        assert soft_open_file_limit(server.proc.pid) == needed
        assert "open-file limit" not in server.stderr_text()


def test_the_lag_monitor_refuses_on_sustained_lag_not_on_one_stall() -> None:
    monitor = LoopLagMonitor()
    for lag in (0.0, 0.0, 0.4, 0.0):  # one 400 ms stall (a full GC, say): no lag
        monitor.observe(lag)
    assert monitor.lag_seconds == 0.0
    for lag in (0.3, 0.35, 0.4, 0.3):  # late sample after sample: the core cannot keep up
        monitor.observe(lag)
    assert monitor.lag_seconds == 0.3
    monitor.observe(0.01)  # on time again
    assert monitor.lag_seconds == 0.01
    monitor.observe(-0.01)  # a timer that fired early is no lag
    assert monitor.lag_seconds == 0.0


class Core:
    """A ``CapacityEstimate`` on a CPU counter and a clock the test moves, a second at a time."""

    def __init__(self, ceiling: int = 6000, floor: int = 256) -> None:
        self.cpu = self.now = self.lag = 0.0
        self.estimate = CapacityEstimate(
            ceiling=ceiling,
            floor=floor,
            target_utilisation=0.8,
            cpu_seconds=lambda: self.cpu,
            clock=lambda: self.now,
        )
        self.estimate.watch_lag(lambda: self.lag)

    def second(
        self,
        *,
        answered: int = 0,
        refused: int = 0,
        cpu: float = 0.0,
        refusal_cpu: float = 0.0,
        lag: float = 0.0,
    ) -> int:
        """One second: ``answered`` requests held 7 s, ``refused`` refusals costing
        ``refusal_cpu`` each, ``cpu`` seconds of the core besides, the loop ``lag`` seconds
        behind; returns the limit."""
        self.lag = lag
        for _ in range(answered):
            self.estimate.finished(7.0)
        for _ in range(refused):
            self.estimate.refused()
            if refusal_cpu:
                self.estimate.refusal_cost(refusal_cpu)
        self.cpu += cpu + refused * refusal_cpu
        self.now += 1.0
        self.estimate.update()
        return self.estimate.limit


def test_the_capacity_estimate_is_littles_law_on_measured_cpu_and_hold_time() -> None:
    core = Core()
    assert core.estimate.limit == 256  # nothing measured yet: slow start at the floor
    # The first sample holds start-up's CPU too: not used.
    assert core.second(answered=100, cpu=3.0) == 256
    # 100 requests held 7 s each, 5 ms of CPU apiece: an estimate, trusted once it has
    # watched one hold time.
    assert core.second(answered=100, cpu=0.5) == 256
    for _ in range(7):
        core.second(answered=100, cpu=0.5)
    assert core.estimate.limit == int(0.8 * 7.0 / 0.005)  # 1,120
    assert core.second(answered=3) == 1120  # too few answers to say anything: it stays
    for _ in range(20):  # requests got ten times dearer: the limit falls, not below floor
        core.second(answered=100, cpu=5.0)
    assert core.estimate.limit == 256


def test_slow_start_doubles_once_a_round_trip_while_refusals_meet_an_idle_core() -> None:
    """Requests held 7 s answer nothing for 7 s, and a ramp's first estimates charge its
    admissions to a few answers: until the estimate has watched one hold time, refusals that
    meet an idle core double the limit, once per hold time (the answers' CPU comes later)."""
    core = Core(ceiling=3000)
    assert core.second(cpu=0.1) == 256  # nothing refused: nothing to grow for
    assert core.second(refused=200, cpu=0.5) == 256  # the core past half its target: hold
    assert core.second(refused=200, cpu=0.1) == 512  # refusing, the core at a tenth: double
    for _ in range(5):  # not again before what it admitted has come back
        assert core.second(refused=200, cpu=0.1) == 512
    core.second(answered=100, cpu=0.3)  # answers, held 7 s (the first sample is not used)
    # A pessimistic first estimate (9 ms a request) is not trusted yet.
    assert core.second(answered=100, refused=100, cpu=0.9) == 512
    # A round trip since the doubling, refusals, an idle core: double.
    assert core.second(refused=200, cpu=0.1) == 1024
    for _ in range(6):  # one hold time after the first estimate: Little's law alone
        core.second(answered=100, cpu=0.3)
    cpu_per_request = core.estimate.cpu_per_request
    assert core.estimate.trusted(core.now) and cpu_per_request is not None
    settled = int(0.8 * 7.0 / cpu_per_request)
    assert core.estimate.limit == settled
    # Trusted: a quiet second that refuses does not overrule it.
    assert core.second(refused=500, cpu=0.1) == settled


def test_refusals_cost_the_core_budget_not_each_admitted_request() -> None:
    """Refusals grow with the offered load; counted in each answer's cost they made the limit
    fall as they grew, which refused more. Their measured CPU comes off the budget instead."""
    core = Core()
    core.second(answered=100, cpu=0.5)  # the first sample is not used
    for _ in range(30):  # each second: 100 answers at 5 ms, 1,000 refusals at 0.2 ms
        core.second(answered=100, cpu=0.5, refused=1000, refusal_cpu=0.0002)
    estimate = core.estimate
    assert estimate.cpu_per_request is not None
    assert abs(estimate.cpu_per_request - 0.005) < 1e-9  # the refusals are not in it
    assert abs(estimate.refusal_share - 0.2) < 0.01  # they take a fifth of the core
    # (0.8 - 0.2) x 7 s / 5 ms; counting refusals in each answer's cost would give 800.
    assert abs(estimate.limit - int(0.6 * 7.0 / 0.005)) <= 10


def test_a_worker_that_does_not_get_its_core_plans_for_what_it_gets() -> None:
    """Two workers beside the model server on two cores, or a CPU quota: the loop falls
    behind while the process runs only part of each second. The limit follows the share it
    gets, and comes back once the loop keeps up. A loop behind on a core it has all of (its
    own overload) keeps its estimate: that is the refusals' and the lag guard's job."""
    core = Core()
    for _ in range(10):
        core.second(answered=100, cpu=0.5)
    assert core.estimate.limit == 1120  # 0.8 x 7 s / 5 ms
    # Behind by 300 ms while the process got 40% of a core: plan for 0.8 x 40%.
    assert core.second(answered=80, cpu=0.4, lag=0.3) == int(0.8 * 0.4 * 7.0 / 0.005)  # 448
    for _ in range(3):  # still starved: never above what it gets
        assert core.second(answered=80, cpu=0.4, lag=0.3) == 448
    # Keeping up again: 5 points of a core a second, back to 1,120 in 12 s.
    limits = [core.second(answered=100, cpu=0.5) for _ in range(12)]
    assert limits == sorted(limits) and limits[0] > 448 and limits[-1] == 1120

    saturated = Core()
    for _ in range(10):
        saturated.second(answered=100, cpu=0.5)
    assert saturated.second(answered=100, cpu=0.98, lag=0.3) < 1120  # dearer requests
    assert saturated.estimate.available_share > 0.95  # but the core is its own


def test_slow_start_does_not_grow_a_starved_worker() -> None:
    core = Core(ceiling=3000)
    assert core.second(refused=200, cpu=0.1, lag=0.3) == 256  # behind on 10%: not idle
    assert core.second(refused=200, cpu=0.1) == 512  # idle and refusing: double


async def test_a_client_that_leaves_mid_call_is_charged_and_counted_as_disconnected(
    tmp_path: Path, slow_sims: dict[str, Server]
) -> None:
    from gateway.budget.redis import RedisBudgetStore
    from tests.support import REDIS_URL

    alpha = {"budgets": [{"period": "day", "limit_usd": "100"}]}
    with start_replicas(tmp_path, slow_sims, 1, alpha) as replicas:
        server = replicas.servers[0]
        body = json.dumps({"prompt": PROMPT}).encode()
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(
                b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\n"
                + f"{next(iter(AUTH))}: {next(iter(AUTH.values()))}\r\n".encode()
                + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await wait_in_flight(server, 1)
        # The call goes on without its client; it settles at its actual cost.
        deadline = time.monotonic() + 30
        while (window := team_budget(server))["spent_micros"] == 0:
            assert time.monotonic() < deadline, "the abandoned call was never settled"
            await asyncio.sleep(0.1)
        assert window["reserved_micros"] == 0
        store = RedisBudgetStore.from_url(REDIS_URL, key_prefix=replicas.prefix)
        try:
            today = dt.datetime.now(dt.UTC).date().isoformat()
            for _ in range(50):  # counted right after the answer is made
                day = (await store.aggregates("alpha", [today])).get(today, {})
                if day.get("disconnected"):
                    break
                await asyncio.sleep(0.1)
        finally:
            await store.close()
        assert day["disconnected"] == 1
        assert day["disconnected_micros"] == window["spent_micros"] == day["cost_micros"]
        # The team's report says so: the request counts, and so does what it cost.
        report = httpx.get(server.url + "/v1/reports/teams/alpha", headers=AUTH).json()
        assert report["routing"]["disconnected"] == {
            "requests": 1,
            "cost": {"micros": window["spent_micros"], "usd": report["totals"]["cost"]["usd"]},
        }
        assert report["routing"]["cancelled"]["requests"] == 0
        assert report["totals"]["cost"]["micros"] == window["spent_micros"]
