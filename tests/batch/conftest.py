"""A real batch deployment: `tiergate serve` and `tiergate worker` processes on one Redis,
the two tier simulators behind them, and a blob store (a directory, or a real S3 server)."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from tests.conftest import TEAM_KEYS, policy_dict, write_policy
from tests.support import REDIS_URL, Server, free_port, gateway, require_redis

DONE = {"completed", "failed", "cancelled", "expired"}


@dataclass
class Deployment:
    env: dict[str, str]
    policy: Path
    gateway: Server
    workers: list[Server] = field(default_factory=list)

    def start_worker(self, *extra: str) -> Server:
        port = free_port()
        worker = Server(
            [
                sys.executable,
                "-m",
                "gateway.cli",
                "worker",
                "--policy",
                str(self.policy),
                "--metrics-port",
                str(port),
                *extra,
            ],
            port,
            env=self.env,
            health_path="/metrics",
        ).start()
        self.workers.append(worker)
        return worker

    def client(self, team: str = "alpha") -> openai.OpenAI:
        return openai.OpenAI(
            base_url=self.gateway.url + "/v1", api_key=TEAM_KEYS[team], max_retries=0
        )

    def http(self, team: str = "alpha") -> httpx.Client:
        return httpx.Client(
            base_url=self.gateway.url,
            headers={"authorization": f"Bearer {TEAM_KEYS[team]}"},
            timeout=30,
        )

    def wait(self, batch_id: str, team: str = "alpha", timeout_s: float = 90) -> Any:
        client = self.client(team)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batch = client.batches.retrieve(batch_id)
            if batch.status in DONE:
                return batch
            time.sleep(0.2)
        raise AssertionError(f"batch {batch_id} still {batch.status}: {batch.request_counts}")

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.gateway.stop()


@pytest.fixture
def deploy(tmp_path: Path, sim_env: dict[str, str]) -> Iterator[Callable[..., Deployment]]:
    """deploy(teams=..., env=..., workers=1): a gateway (no in-process worker) and workers."""
    require_redis()
    made: list[Deployment] = []

    def make(
        workers: int = 1,
        env: dict[str, str] | None = None,
        **teams: dict[str, Any],
    ) -> Deployment:
        raw = policy_dict(**teams)
        policy = write_policy(tmp_path, yaml.safe_dump(raw), f"policy-{len(made)}.yaml")
        full_env = {
            **sim_env,
            "TIERGATE_STORE": REDIS_URL,
            "TIERGATE_STORE_KEY_PREFIX": "tgb-" + uuid.uuid4().hex[:8],
            "TIERGATE_BLOB_STORE": f"file://{tmp_path}/blobs",
            "TIERGATE_BATCH_IN_PROCESS_WORKER": "false",
            "TIERGATE_BATCH_VISIBILITY_TIMEOUT_SECONDS": "3",
            "TIERGATE_JOURNAL_DIR": str(tmp_path / "journal"),
            **(env or {}),
        }
        deployment = Deployment(full_env, policy, gateway(policy, env=full_env).start())
        made.append(deployment)
        for _ in range(workers):
            deployment.start_worker()
        return deployment

    yield make
    for deployment in made:
        deployment.stop()


def jsonl(rows: list[Any]) -> bytes:
    import json

    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows).encode() + b"\n"


def request_line(custom_id: str, prompt: str, **body: Any) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/images/generations",
        "body": {"model": "auto", "prompt": prompt, "size": "1024x1024", **body},
    }
