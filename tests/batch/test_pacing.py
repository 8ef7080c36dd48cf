"""Batches pace themselves: they leave live traffic its share and downgrade past soft limits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import pytest

from tests.batch.conftest import Deployment, jsonl, request_line
from tests.batch.test_reliability import slow_sims, submit  # noqa: F401 - fixture
from tests.conftest import TEAM_KEYS
from tests.support import Server, create_bucket

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def test_a_large_batch_leaves_live_requests_their_share(
    deploy: Callable[..., Deployment],
    slow_sims: dict[str, str],  # noqa: F811
) -> None:
    deployment = deploy(
        workers=1,
        env=slow_sims,
        alpha={
            "rate_limits": {"max_concurrent": 6, "requests_per_minute": 600},
            "batch": {"max_concurrent": 2},
        },
    )
    rows = [request_line(f"b-{i}", f"a flat icon of a paper plane number {i}") for i in range(24)]
    batch_id = submit(deployment, rows)
    peak = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        with deployment.http() as http:
            while not stop.is_set():
                limits = http.get("/v1/budget").json()["rate_limits"]
                batch = next((r for r in limits if r["scope"] == "batch"), None)
                if batch is not None:
                    peak = max(peak, batch["in_flight"])
                time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        time.sleep(1.0)  # the batch is running
        with httpx.Client(timeout=30) as live:
            threads_results: list[int] = []

            def call(i: int) -> None:
                response = live.post(
                    deployment.gateway.url + "/v1/images/generations",
                    json={"prompt": f"a flat icon of a bicycle {i}"},
                    headers={"authorization": f"Bearer {TEAM_KEYS['alpha']}"},
                )
                threads_results.append(response.status_code)

            callers = [threading.Thread(target=call, args=(i,)) for i in range(4)]
            for t in callers:
                t.start()
            for t in callers:
                t.join()
        assert threads_results == [200] * 4  # 4 live + 2 batch fit the team's 6
        done = deployment.wait(batch_id, timeout_s=90)
    finally:
        stop.set()
        watcher.join()
    assert done.status == "completed" and done.request_counts.completed == 24
    assert 1 <= peak <= 2


def test_batch_items_downgrade_past_the_soft_limit(deploy: Callable[..., Deployment]) -> None:
    deployment = deploy(
        workers=1,
        alpha={"budgets": [{"period": "day", "limit_usd": 10, "soft_limit_fraction": 0.001}]},
    )
    with deployment.http() as http:  # spend past the soft limit ($0.01) with one live call
        assert (
            http.post(
                "/v1/images/generations", json={"prompt": "a flat icon of a paper plane"}
            ).status_code
            == 200
        )
    rows = [request_line("photo", "A photorealistic portrait of an old fisherman, 85mm, f/1.8")]
    done = deployment.wait(submit(deployment, rows))
    (line,) = [
        __import__("json").loads(x)
        for x in deployment.client().files.content(done.output_file_id).text.splitlines()
    ]
    assert line["tiergate"]["tier"] == "efficient"
    assert any("soft" in reason for reason in line["tiergate"]["reasons"])


def test_batches_on_an_s3_blob_store(deploy: Callable[..., Deployment], s3: Server) -> None:
    deployment = deploy(
        workers=1,
        env={
            "TIERGATE_BLOB_STORE": create_bucket(s3, "tiergate-batches"),
            "AWS_ACCESS_KEY_ID": "tiergate-test",
            "AWS_SECRET_ACCESS_KEY": "x",
        },
    )
    rows = [request_line(f"s-{i}", f"a flat icon of a paper plane number {i}") for i in range(3)]
    done = deployment.wait(submit(deployment, rows))
    assert done.status == "completed" and done.request_counts.completed == 3
    content = deployment.client().files.content(done.output_file_id).text
    assert len(content.splitlines()) == 3
    listed = httpx.get(f"{s3.url}/tiergate-batches?list-type=2").text
    assert "tiergate/alpha/files/" in listed  # the objects really are in the bucket


def test_the_memory_store_runs_batches_in_process(
    tmp_path: object, sim_env: dict[str, str]
) -> None:
    """The demo's shape: memory:// and no worker process; the gateway runs the batch itself."""
    import yaml

    from tests.conftest import policy_dict, write_policy
    from tests.support import gateway

    policy = write_policy(tmp_path, yaml.safe_dump(policy_dict()))  # type: ignore[arg-type]
    env = {**sim_env, "TIERGATE_BLOB_STORE": f"file://{tmp_path}/blobs"}
    with gateway(policy, env=env) as server:
        deployment = Deployment(env, policy, server)
        rows = [request_line(f"d-{i}", f"a flat icon of a paper plane {i}") for i in range(5)]
        client = deployment.client()
        uploaded = client.files.create(file=("d.jsonl", jsonl(rows)), purpose="batch")
        batch = client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/images/generations", completion_window="24h"
        )
        done = deployment.wait(batch.id)
        assert done.status == "completed" and done.request_counts.completed == 5
