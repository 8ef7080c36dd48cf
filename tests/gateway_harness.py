"""An in-process gateway wired to real simulators and a real store, for request-path tests."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import redis.asyncio as aioredis
import yaml

from gateway.app import create_app
from gateway.policy.loader import load_policy_text
from gateway.settings import Settings
from tests.conftest import policy_dict
from tests.support import REDIS_URL


def sim_env_for(efficient_port: int, flagship_port: int) -> dict[str, str]:
    return {
        "TIERGATE_SIM_EFFICIENT_PORT": str(efficient_port),
        "TIERGATE_SIM_FLAGSHIP_PORT": str(flagship_port),
    }


@contextlib.asynccontextmanager
async def gateway_client(
    env: dict[str, str],
    *,
    store: str = "memory://",
    mutate: Any = None,
    journal_dir: Any = None,
    upstream: str = "auto",
    **team_overrides: dict[str, Any],
) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """Yields (client, app); a redis store gets a unique key prefix, deleted afterwards."""
    raw = policy_dict(**team_overrides)
    if mutate is not None:
        mutate(raw)
    policy = load_policy_text(yaml.safe_dump(raw), env=env)
    prefix = "tgtest-" + uuid.uuid4().hex[:10]
    extra: dict[str, Any] = {"upstream": upstream}
    if journal_dir is not None:
        extra["journal_dir"] = journal_dir
    settings = Settings(
        store=store,
        store_key_prefix=prefix,
        reaper_interval_seconds=0.2,
        reservation_grace_seconds=0.5,
        **extra,
    )
    app = create_app(settings, policy=policy)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://gateway", timeout=30
            ) as client:
                yield client, app
    finally:
        if store.startswith("redis"):
            await delete_prefix(prefix)


async def delete_prefix(prefix: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        async for key in client.scan_iter(match=f"{prefix}:*", count=500):
            await client.delete(key)
    finally:
        await client.aclose()
