from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import yaml

from gateway.app import create_app
from gateway.policy.loader import load_policy_text
from gateway.settings import Settings
from tests.conftest import policy_dict


@pytest.fixture
async def client(sim_env: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    policy = load_policy_text(yaml.safe_dump(policy_dict()), env=sim_env)
    app = create_app(Settings(store="memory://"), policy=policy)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://gateway") as c,
    ):
        yield c
