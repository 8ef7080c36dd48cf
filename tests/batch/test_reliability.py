"""Batches under failure: a worker killed mid-run, a budget that runs out, a cancel."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator

import httpx
import pytest

from gateway.budget import open_store
from tests.batch.conftest import Deployment, jsonl, request_line
from tests.support import REDIS_URL, Server, simulator

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def slow_sims() -> Iterator[dict[str, str]]:
    """Simulators taking ~0.7-0.9 s a call, so a batch is still running when we act."""
    servers: dict[str, Server] = {}
    for profile in ("efficient", "flagship"):
        server = simulator(profile)
        server.args[server.args.index("--latency-scale") + 1] = "0.1"
        servers[profile] = server.start()
    yield {
        "TIERGATE_SIM_EFFICIENT_PORT": str(servers["efficient"].port),
        "TIERGATE_SIM_FLAGSHIP_PORT": str(servers["flagship"].port),
    }
    for server in servers.values():
        server.stop()


def ledger(deployment: Deployment, team: str = "alpha") -> list[dict[str, str]]:
    async def read() -> list[dict[str, str]]:
        store = open_store(REDIS_URL, key_prefix=deployment.env["TIERGATE_STORE_KEY_PREFIX"])
        try:
            return [fields for _, fields in await store.ledger_events(team, 10_000)]
        finally:
            await store.close()

    return asyncio.run(read())


def budget_window(deployment: Deployment, team: str = "alpha") -> dict:  # type: ignore[type-arg]
    with deployment.http(team) as http:
        windows = http.get("/v1/budget").json()["windows"]
    return next(w for w in windows if w["period"] == "day")  # type: ignore[no-any-return]


def lines_of(deployment: Deployment, file_id: str | None) -> list[dict]:  # type: ignore[type-arg]
    if file_id is None:
        return []
    text = deployment.client().files.content(file_id).text
    return [json.loads(x) for x in text.splitlines()]


def in_flight(worker: Server) -> float:
    """The worker's tiergate_batch_items_in_flight, from its metrics port."""
    metrics = httpx.get(worker.url + "/metrics").text
    return next(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("tiergate_batch_items_in_flight ")
    )


def submit(deployment: Deployment, rows: list, **create: object) -> str:  # type: ignore[type-arg]
    client = deployment.client()
    uploaded = client.files.create(file=("b.jsonl", jsonl(rows)), purpose="batch")
    return client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/images/generations",
        completion_window=create.pop("completion_window", "24h"),  # type: ignore[arg-type]
        **create,  # type: ignore[arg-type]
    ).id


def test_a_worker_killed_mid_run_loses_and_doubles_nothing(
    deploy: Callable[..., Deployment], slow_sims: dict[str, str]
) -> None:
    deployment = deploy(
        workers=2,
        env=slow_sims,
        alpha={"budgets": [{"period": "day", "limit_usd": 100}], "batch": {"max_concurrent": 8}},
    )
    rows = [
        request_line(f"item-{i}", f"a flat icon of a paper plane number {i}") for i in range(40)
    ]
    batch_id = submit(deployment, rows)
    client = deployment.client()
    victim = deployment.workers[0]
    assert victim.proc is not None
    deadline = time.monotonic() + 30
    while True:  # kill it mid-item: once the batch is under way and it holds jobs
        assert time.monotonic() < deadline, "the victim never held a job"
        running = in_flight(victim)
        if running > 0 and client.batches.retrieve(batch_id).request_counts.completed >= 4:  # type: ignore[union-attr]
            break
        time.sleep(0.02)
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait()

    done = deployment.wait(batch_id, timeout_s=120)
    assert done.status == "completed"
    assert done.request_counts.completed == 40 and done.request_counts.failed == 0
    output = lines_of(deployment, done.output_file_id)
    assert Counter(line["custom_id"] for line in output) == {f"item-{i}": 1 for i in range(40)}
    entries = [e for e in ledger(deployment) if e.get("batch_id") == batch_id]
    assert len(entries) == len(output) == 40
    assert {e["outcome"] for e in entries} == {"settled"}
    assert Counter(e["batch_line"] for e in entries) == {str(i): 1 for i in range(40)}
    charged = sum(int(e["cost_micros"]) for e in entries)
    window = budget_window(deployment)
    assert window["spent_micros"] == charged and window["reserved_micros"] == 0


def test_a_batch_past_the_budget_waits_then_expires_cleanly(
    deploy: Callable[..., Deployment],
) -> None:
    # One efficient 1024x1024 image at medium quality costs ~$0.02; $0.05 covers two.
    deployment = deploy(
        workers=1,
        alpha={"budgets": [{"period": "day", "limit_usd": 0.05}]},
    )
    rows = [request_line(f"ad-{i}", f"a flat icon of a paper plane number {i}") for i in range(8)]
    batch_id = submit(deployment, rows, completion_window="6s")
    time.sleep(2.5)
    during = deployment.client().batches.retrieve(batch_id)
    assert during.status == "in_progress"  # waiting, not failing
    assert during.request_counts.failed == 0  # type: ignore[union-attr]
    done = deployment.wait(batch_id, timeout_s=40)
    assert done.status == "expired"
    assert done.expired_at is not None
    counts = done.request_counts
    assert counts is not None and counts.completed >= 1
    assert counts.completed + counts.failed == 8
    errors = lines_of(deployment, done.error_file_id)
    assert len(errors) == counts.failed
    assert {e["error"]["code"] for e in errors} == {"batch_expired"}
    assert all(e["response"] is None for e in errors)
    window = budget_window(deployment)
    assert window["spent_micros"] <= window["limit_micros"]
    assert window["reserved_micros"] == 0
    output = lines_of(deployment, done.output_file_id)
    assert window["spent_micros"] == sum(
        round(float(line["tiergate"]["cost_usd"]) * 1_000_000) for line in output
    )


def test_cancel_mid_run_starts_nothing_after_and_leaves_nothing_reserved(
    deploy: Callable[..., Deployment], slow_sims: dict[str, str]
) -> None:
    deployment = deploy(
        workers=1,
        env=slow_sims,
        alpha={"budgets": [{"period": "day", "limit_usd": 100}], "batch": {"max_concurrent": 3}},
    )
    rows = [request_line(f"c-{i}", f"a flat icon of a paper plane number {i}") for i in range(30)]
    batch_id = submit(deployment, rows)
    client = deployment.client()
    deadline = time.monotonic() + 30
    while client.batches.retrieve(batch_id).request_counts.completed < 2:  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cancelling = client.batches.cancel(batch_id)
    assert cancelling.status == "cancelling"
    completed_at_cancel = cancelling.request_counts.completed  # type: ignore[union-attr]
    done = deployment.wait(batch_id, timeout_s=60)
    assert done.status == "cancelled" and done.cancelled_at is not None
    counts = done.request_counts
    assert counts is not None and counts.completed + counts.failed == 30
    assert counts.completed < 30
    entries = [e for e in ledger(deployment) if e.get("batch_id") == batch_id]
    # Nothing started after the cancel: only the (at most three) items running then finished.
    assert completed_at_cancel <= counts.completed <= completed_at_cancel + 3
    assert len(entries) == counts.completed  # each charged once, nothing else charged
    cancelled = lines_of(deployment, done.error_file_id)
    assert {e["error"]["code"] for e in cancelled} == {"batch_cancelled"}
    assert budget_window(deployment)["reserved_micros"] == 0


def test_max_spend_usd_stops_admitting(deploy: Callable[..., Deployment]) -> None:
    deployment = deploy(workers=1, alpha={"budgets": [{"period": "day", "limit_usd": 100}]})
    rows = [request_line(f"m-{i}", f"a flat icon of a paper plane number {i}") for i in range(6)]
    batch_id = submit(deployment, rows, metadata={"max_spend_usd": "0.05"})
    done = deployment.wait(batch_id, timeout_s=60)
    assert done.status == "completed"
    output = lines_of(deployment, done.output_file_id)
    spent = sum(round(float(line["tiergate"]["cost_usd"]) * 1_000_000) for line in output)
    assert 0 < spent <= 50_000
    refused = lines_of(deployment, done.error_file_id)
    assert refused and {r["response"]["body"]["error"]["code"] for r in refused} == {
        "batch_max_spend_reached"
    }
    assert {r["response"]["status_code"] for r in refused} == {429}
    assert len(output) + len(refused) == 6
