"""Shared fixtures: the two tier simulators (real processes) and a policy pointing at them."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import REPO, Server, s3_server, simulator

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

TEAM_KEYS = {"demo": "tg-demo-key", "alpha": "tg-test-alpha", "beta": "tg-test-beta"}
ADMIN_KEY = "tg-test-admin"


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@pytest.fixture(scope="session")
def simulators() -> Iterator[dict[str, Server]]:
    servers = {profile: simulator(profile) for profile in ("efficient", "flagship")}
    try:
        for server in servers.values():
            server.start()
        yield servers
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture(scope="session")
def s3() -> Iterator[Server]:
    """An S3-compatible server on loopback, credentials in the environment as AWS SDKs read them."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "tiergate-test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "tiergate-test-secret")
    server = s3_server()
    server.env.update({"AWS_ACCESS_KEY_ID": "tiergate-test", "AWS_SECRET_ACCESS_KEY": "x"})
    with server:
        yield server


@pytest.fixture(scope="session")
def sim_env(simulators: dict[str, Server]) -> dict[str, str]:
    return {
        "TIERGATE_SIM_EFFICIENT_PORT": str(simulators["efficient"].port),
        "TIERGATE_SIM_FLAGSHIP_PORT": str(simulators["flagship"].port),
    }


@pytest.fixture(scope="session")
def default_policy_text() -> str:
    return (REPO / "policies" / "default.yaml").read_text()


def write_policy(directory: Path, text: str, name: str = "policy.yaml") -> Path:
    path = directory / name
    path.write_text(text)
    return path


def policy_dict(**team_overrides: dict) -> dict:  # type: ignore[type-arg]
    """The demo policy plus teams alpha (no budget) and beta (efficient only) and an admin key."""
    import yaml

    raw: dict = yaml.safe_load((REPO / "policies" / "default.yaml").read_text())  # type: ignore[type-arg]
    raw["teams"]["alpha"] = {"keys": [{"id": "alpha-1", "sha256": sha(TEAM_KEYS["alpha"])}]}
    raw["teams"]["beta"] = {
        "keys": [{"id": "beta-1", "sha256": sha(TEAM_KEYS["beta"])}],
        "allowed_tiers": ["efficient"],
    }
    raw["admin"] = {"keys": [{"id": "admin-1", "sha256": sha(ADMIN_KEY)}]}
    for team, override in team_overrides.items():
        raw["teams"].setdefault(
            team, {"keys": [{"id": f"{team}-1", "sha256": sha(TEAM_KEYS[team])}]}
        )
        raw["teams"][team].update(override)
    return raw


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    import yaml

    return write_policy(tmp_path, yaml.safe_dump(policy_dict()))
