"""The budget store on a real three-node Redis Cluster, started on loopback for this module.

(a) The BudgetStore contract: every test of tests/budget/test_contract.py, unchanged, collected
    again here with `store` and `peer_store` opened on `redis+cluster://`.
(b) Admission under contention across slots: 200 concurrent reserves from three clients for
    teams whose keys live on different nodes admit exactly K per team.
(c) Two known failures of the cluster client, as expected failures (see their reasons).

Needs `redis-server` and `redis-cli`; skipped without them unless TIERGATE_REQUIRE_REDIS=1
(CI), which turns the skip into a failure.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import socket
import subprocess
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis

from gateway.budget import (
    BudgetStore,
    RateLimit,
    ReserveRequest,
    StoreError,
    StoreOptions,
    Window,
    open_store,
)
from gateway.budget.keys import KeySpace
from tests.budget import test_contract

pytestmark = pytest.mark.slow

NODES = 3
START_TIMEOUT_S = 20.0


# -- the cluster ----------------------------------------------------------------------------------


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _cluster_ports(count: int) -> list[int]:
    """Ports P with P and its cluster bus port P + 10000 both free (bus ports stay <= 65535)."""
    rng = random.Random()
    ports: list[int] = []
    while len(ports) < count:
        port = rng.randrange(20_000, 30_000)
        if port not in ports and _bindable(port) and _bindable(port + 10_000):
            ports.append(port)
    return ports


def _require_binaries() -> None:
    missing = [name for name in ("redis-server", "redis-cli") if shutil.which(name) is None]
    if not missing:
        return
    reason = f"{' and '.join(missing)} not on PATH: cannot start a Redis Cluster"
    if os.environ.get("TIERGATE_REQUIRE_REDIS") == "1":
        pytest.fail(f"{reason} (TIERGATE_REQUIRE_REDIS=1)")
    pytest.skip(reason)


def _log_tails(logs: list[Path]) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in logs)


def _wait(
    condition_name: str, check: object, procs: list[subprocess.Popen[bytes]], logs: list[Path]
) -> None:
    assert callable(check)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                pytest.fail(f"redis-server exited with {proc.returncode}\n{_log_tails(logs)}")
        try:
            if check():
                return
        except (redis.RedisError, OSError):
            pass
        time.sleep(0.05)
    pytest.fail(f"Redis Cluster: {condition_name} within {START_TIMEOUT_S} s\n{_log_tails(logs)}")


def _cluster_info(port: int) -> dict[str, str]:
    client = redis.Redis(port=port, socket_connect_timeout=0.5, socket_timeout=1)
    try:
        raw = client.execute_command("CLUSTER", "INFO")
    finally:
        client.close()
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return dict(line.split(":", 1) for line in text.split() if ":" in line)


def _ping(port: int) -> bool:
    client = redis.Redis(port=port, socket_connect_timeout=0.5, socket_timeout=1)
    try:
        return bool(client.ping())
    finally:
        client.close()


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`redis+cluster://` URL of a fresh three-master cluster; its processes die at the end."""
    _require_binaries()
    workdir = tmp_path_factory.mktemp("redis-cluster")
    ports = _cluster_ports(NODES)
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    try:
        for port in ports:
            log = workdir / f"redis-{port}.log"
            logs.append(log)
            with log.open("wb") as out:
                procs.append(
                    subprocess.Popen(
                        [
                            "redis-server",
                            "--port",
                            str(port),
                            "--bind",
                            "127.0.0.1",
                            "--cluster-enabled",
                            "yes",
                            "--cluster-config-file",
                            str(workdir / f"nodes-{port}.conf"),
                            "--save",
                            "",
                            "--appendonly",
                            "no",
                            "--dir",
                            str(workdir),
                            "--daemonize",
                            "no",
                        ],
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
        _wait("nodes answering PING", lambda: all(_ping(p) for p in ports), procs, logs)
        create = subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in ports),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert create.returncode == 0, create.stdout + create.stderr
        assert "All 16384 slots covered" in create.stdout, create.stdout

        def cluster_ok() -> bool:
            infos = [_cluster_info(p) for p in ports]
            return all(
                i.get("cluster_state") == "ok"
                and i.get("cluster_slots_ok") == "16384"
                and i.get("cluster_known_nodes") == str(NODES)
                for i in infos
            )

        _wait("cluster_state:ok on every node", cluster_ok, procs, logs)
        yield f"redis+cluster://127.0.0.1:{ports[0]}"
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def cluster_client(redis_cluster: str) -> Iterator[redis.RedisCluster]:
    client = redis.RedisCluster.from_url(
        redis_cluster.replace("redis+cluster://", "redis://", 1), decode_responses=True
    )
    yield client
    client.close()


# -- (a) the contract, against the cluster --------------------------------------------------------
# The fixtures the contract tests ask for, bound to the cluster. Each test gets its own key
# prefix, so tests never see each other's keys; the cluster is thrown away afterwards.


@pytest.fixture
def key_prefix() -> str:
    return f"tgtest-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store_options() -> StoreOptions:
    return StoreOptions()


async def ready_store(url: str, key_prefix: str, options: StoreOptions) -> BudgetStore:
    """A store as a replica has it once /readyz passed: its cluster client already initialised.

    Opening does no I/O; the first command discovers the cluster. Warming it first keeps
    these tests about the store's arithmetic, not about redis-py's concurrent first use
    (see test_a_cold_cluster_client_survives_a_burst).
    """
    budget_store = open_store(url, key_prefix=key_prefix, options=options)
    assert await budget_store.ping()
    return budget_store


@pytest.fixture
async def store(
    redis_cluster: str, key_prefix: str, store_options: StoreOptions
) -> AsyncIterator[BudgetStore]:
    budget_store = await ready_store(redis_cluster, key_prefix, store_options)
    yield budget_store
    await budget_store.close()


@pytest.fixture
async def peer_store(
    store: BudgetStore, redis_cluster: str, key_prefix: str, store_options: StoreOptions
) -> AsyncIterator[BudgetStore]:
    """Another replica: a second cluster client on the same key prefix."""
    other = await ready_store(redis_cluster, key_prefix, store_options)
    yield other
    await other.close()


CONTRACT_TESTS = {
    name: test for name, test in vars(test_contract).items() if name.startswith("test_")
}
globals().update(CONTRACT_TESTS)


def test_the_whole_contract_is_collected_here() -> None:
    assert len(CONTRACT_TESTS) >= 25
    assert {
        "test_reserve_within_limits_holds_the_estimate",
        "test_settle_is_idempotent",
        "test_release_is_idempotent",
        "test_reap_after_deadline_charges_the_estimate",
        "test_snapshot_numbers",
        "test_latency_percentiles",
        "test_ping",
    } <= set(CONTRACT_TESTS)


# -- (b) admission under contention, keys spread over the nodes -----------------------------------

TEAMS = ("atlas", "borealis", "cygnus", "draco", "eridanus")
REQUESTS = 200
ADMITTED_PER_TEAM = 13
ESTIMATE = 1_250
NOW = 1_795_780_800_000
RPM = 1_000


def _reserve_request(i: int, window: Window, rate: RateLimit) -> ReserveRequest:
    return ReserveRequest(
        team=TEAMS[i % len(TEAMS)],
        reservation_id=f"r{i}",
        estimate_micros=ESTIMATE,
        windows=(window,),
        rate_limits=(rate,),
        now_ms=NOW,
        deadline_ms=NOW + 60_000,
    )


async def test_concurrent_reserves_admit_exactly_k_per_team_across_nodes(
    redis_cluster: str, cluster_client: redis.RedisCluster
) -> None:
    prefix = f"tgtest-{uuid.uuid4().hex[:12]}"
    keys = KeySpace(prefix)
    nodes = {team: cluster_client.get_node_from_key(keys.team(team).spent).name for team in TEAMS}
    assert len(set(nodes.values())) == NODES, f"teams should cover every node: {nodes}"

    window = Window("team", "day", "2026-11-27", ADMITTED_PER_TEAM * ESTIMATE, 172_800)
    rate = RateLimit("team", requests_per_minute=RPM)
    options = StoreOptions()
    stores = [await ready_store(redis_cluster, prefix, options) for _ in range(3)]  # replicas
    try:
        results = await asyncio.gather(
            *(stores[i % 3].reserve(_reserve_request(i, window, rate)) for i in range(REQUESTS))
        )
        admitted: dict[str, list[int]] = defaultdict(list)
        for i, result in enumerate(results):
            if result.admitted:
                admitted[TEAMS[i % len(TEAMS)]].append(i)
            else:
                assert result.reason == "budget_exceeded", result
        assert {team: len(ids) for team, ids in admitted.items()} == {
            team: ADMITTED_PER_TEAM for team in TEAMS
        }
        for team in TEAMS:
            snap = await stores[0].snapshot(team, [window], [rate], NOW)
            assert snap.window_states[0].reserved_micros == ADMITTED_PER_TEAM * ESTIMATE
            assert snap.rate_states[0].in_flight == ADMITTED_PER_TEAM
            # Refusals do not count against the request rate.
            assert snap.rate_states[0].requests_remaining == RPM - ADMITTED_PER_TEAM

        settled = await asyncio.gather(
            *(
                stores[i % 3].settle(team, f"r{i}", ESTIMATE - (i % 2), NOW + 1)
                for team, ids in admitted.items()
                for i in ids
            )
        )
        assert {s.outcome for s in settled} == {"settled"}
        for team, ids in admitted.items():
            state = await stores[1].snapshot(team, [window], [rate], NOW + 1)
            assert state.window_states[0].reserved_micros == 0
            assert state.window_states[0].spent_micros == sum(ESTIMATE - (i % 2) for i in ids)
            assert state.window_states[0].spent_micros <= window.limit_micros
            assert state.rate_states[0].in_flight == 0
    finally:
        for s in stores:
            await s.close()

    # Every key of a team sits in that team's slot (what lets one Lua script touch them all).
    slots: dict[str, set[int]] = defaultdict(set)
    for key in cluster_client.scan_iter(match=f"{prefix}:*", count=1000):
        team = key.split("{", 1)[1].split("}", 1)[0]
        slots[team].add(cluster_client.keyslot(key))
    assert set(slots) == set(TEAMS)
    assert all(len(team_slots) == 1 for team_slots in slots.values()), slots


async def test_a_plain_redis_url_against_the_cluster_fails_loudly(
    redis_cluster: str, cluster_client: redis.RedisCluster
) -> None:
    """Why managed clusters need `redis+cluster://`: one node refuses keys of other slots."""
    port = int(redis_cluster.rsplit(":", 1)[1])
    prefix = f"tgtest-{uuid.uuid4().hex[:12]}"
    keys = KeySpace(prefix)
    team = next(
        t for t in TEAMS if cluster_client.get_node_from_key(keys.team(t).spent).port != port
    )
    plain = open_store(f"redis://127.0.0.1:{port}/0", key_prefix=prefix)
    try:
        window = Window("team", "day", "2026-11-27", 10_000, 172_800)
        with pytest.raises(StoreError, match=r"(?i)moved"):
            await plain.reserve(
                ReserveRequest(
                    team=team,
                    reservation_id="r1",
                    estimate_micros=1,
                    windows=(window,),
                    rate_limits=(),
                    now_ms=NOW,
                    deadline_ms=NOW + 1_000,
                )
            )
    finally:
        await plain.close()


# -- known failures of redis-py's asyncio RedisCluster, as the store uses it ----------------------


def _burst_request(i: int, team: str) -> ReserveRequest:
    return ReserveRequest(
        team=team,
        reservation_id=f"burst-{i}",
        estimate_micros=1,
        windows=(Window("team", "day", "2026-11-27", 1_000_000, 172_800),),
        rate_limits=(),
        now_ms=NOW,
        deadline_ms=NOW + 60_000,
    )


@pytest.mark.xfail(
    strict=False,
    reason="redis-py 8.1 asyncio RedisCluster: when many tasks use a fresh client at once "
    "(before its cluster discovery has finished), connections get disconnected while other "
    "tasks write to them: AttributeError ('NoneType' object has no attribute 'writelines', "
    "which escapes the store untranslated) or ConnectionError (StoreUnavailable). "
    "Intermittent; `await client.initialize()` before the burst avoids it.",
)
async def test_a_cold_cluster_client_survives_a_burst(redis_cluster: str) -> None:
    """What a replica (or a uvicorn worker) sees when traffic reaches it before any command."""
    failures: list[BaseException] = []
    for _ in range(5):
        prefix = f"tgtest-{uuid.uuid4().hex[:12]}"
        cold = open_store(redis_cluster, key_prefix=prefix)
        try:
            results = await asyncio.gather(
                *(cold.reserve(_burst_request(i, TEAMS[i % len(TEAMS)])) for i in range(100)),
                return_exceptions=True,
            )
        finally:
            await cold.close()
        failures += [r for r in results if isinstance(r, BaseException)]
    assert failures == []


async def test_a_burst_above_the_pool_size_waits_for_a_connection(redis_cluster: str) -> None:
    """60 concurrent requests of one team (one slot, one node) fit the per-node pool (256)."""
    prefix = f"tgtest-{uuid.uuid4().hex[:12]}"
    warm = await ready_store(redis_cluster, prefix, StoreOptions())
    try:
        results = await asyncio.gather(*(warm.reserve(_burst_request(i, "hot")) for i in range(60)))
    finally:
        await warm.close()
    assert all(r.admitted for r in results)
