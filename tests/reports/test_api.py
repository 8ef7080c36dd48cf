"""``GET /v1/reports/teams/{team}``: authorization, formats, and agreement with the ledger."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from gateway.budget.store import BudgetStore
from tests.conftest import ADMIN_KEY, TEAM_KEYS
from tests.gateway_harness import gateway_client
from tests.reports.agreement import assert_reports_agree, today
from tests.reports.seed import seed_requests
from tests.support import REDIS_URL, require_redis

pytestmark = pytest.mark.redis

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def team_headers(team: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TEAM_KEYS[team]}"}


@pytest.fixture
async def gateway(sim_env: dict[str, str]) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    require_redis()
    async with gateway_client(sim_env, store=REDIS_URL) as (client, app):
        yield client, app


def store_of(app: Any) -> BudgetStore:
    store: BudgetStore = app.state.tiergate.store
    return store


async def test_seeded_usage_every_format_agrees_with_the_ledger(
    gateway: tuple[httpx.AsyncClient, Any],
) -> None:
    """Usage written through the store contract (settle + aggregates), read back by the API."""
    client, app = gateway
    store, rng, now = store_of(app), random.Random(7), datetime.now(UTC)
    for team, count in (("demo", 25), ("alpha", 12), ("beta", 6)):
        await seed_requests(store, team, count, now, rng)
    for team in ("demo", "alpha", "beta"):
        sums = await assert_reports_agree(client, store, team, ADMIN)
        assert sums.requests == {"demo": 25, "alpha": 12, "beta": 6}[team]
    await assert_reports_agree(client, store, "alpha", team_headers("alpha"))


PROMPTS = (
    ("demo", "a 35mm photo of a lighthouse at dawn, shot on a DSLR", 1),
    ("demo", 'A poster that says "Summer Sale"', 2),
    ("demo", "a wireframe mockup of a settings page", 1),
    ("demo", "a manga panel of a cat samurai", 1),
    ("alpha", "a photorealistic portrait of an old fisherman", 1),
    ("alpha", "a cat sitting on a chair", 3),
    ("beta", 'a banner that says "Hello"', 1),
    ("beta", "a 35mm photo of a mountain lake", 1),
)


async def test_real_requests_every_format_agrees_with_the_ledger(
    gateway: tuple[httpx.AsyncClient, Any],
) -> None:
    client, app = gateway
    for team, prompt, n in PROMPTS:
        response = await client.post(
            "/v1/images/generations",
            headers=team_headers(team),
            json={"model": "auto", "prompt": prompt, "n": n},
        )
        assert response.status_code == 200, response.text
    store = store_of(app)
    totals = {
        team: await assert_reports_agree(client, store, team, ADMIN)
        for team in ("demo", "alpha", "beta")
    }
    assert totals["demo"].images == 5 and totals["alpha"].images == 4
    assert set(totals["beta"].tier_cost) == {"efficient"}


async def test_authorization_rules(gateway: tuple[httpx.AsyncClient, Any]) -> None:
    client, _ = gateway
    url = "/v1/reports/teams/{}"

    missing = await client.get(url.format("demo"))
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "missing_api_key"
    wrong = await client.get(url.format("demo"), headers={"Authorization": "Bearer tg-nope"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_api_key"

    own = await client.get(url.format("alpha"), headers=team_headers("alpha"))
    assert own.status_code == 200 and own.json()["team"] == "alpha"

    other = await client.get(url.format("demo"), headers=team_headers("alpha"))
    absent = await client.get(url.format("no-such-team"), headers=team_headers("alpha"))
    assert other.status_code == absent.status_code == 404
    assert other.json() == absent.json()  # nothing tells an existing team from a missing one
    assert other.json()["error"]["code"] == "not_found"

    for team in ("demo", "alpha", "beta"):
        admin = await client.get(url.format(team), headers=ADMIN)
        assert admin.status_code == 200 and admin.json()["team"] == team
    admin_absent = await client.get(url.format("no-such-team"), headers=ADMIN)
    assert admin_absent.status_code == 404 and admin_absent.json() == absent.json()


async def test_query_validation_and_defaults(gateway: tuple[httpx.AsyncClient, Any]) -> None:
    client, _ = gateway
    url, headers = "/v1/reports/teams/demo", team_headers("demo")
    default = (await client.get(url, headers=headers)).json()
    assert default["period"] == {"start": date_days_ago(29), "end": today().isoformat()}
    for params, param in (
        ({"format": "pdf"}, "format"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-02-30"}, "to"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "from"),
        ({"from": "2020-01-01", "to": "2026-03-01"}, "from"),
    ):
        bad = await client.get(url, params=params, headers=headers)
        assert bad.status_code == 400, params
        assert bad.json()["error"]["param"] == param
    foreign = await client.get("/v1/reports/teams/alpha", params={"format": "pdf"}, headers=headers)
    assert foreign.status_code == 404  # authorization is decided before the query is read


def date_days_ago(days: int) -> str:
    return today().fromordinal(today().toordinal() - days).isoformat()
