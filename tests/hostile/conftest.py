"""A real `tiergate serve` on the demo policy and the session's simulators, one per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from tests.conftest import policy_dict, write_policy
from tests.support import Server, gateway


@pytest.fixture(scope="module")
def served(
    simulators: dict[str, Server], sim_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    path = write_policy(tmp_path_factory.mktemp("served"), yaml.safe_dump(policy_dict()))
    with gateway(path, env=sim_env) as server:
        yield server
