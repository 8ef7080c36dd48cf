"""``gateway.metrics`` and ``GET /metrics``: values, bounded labels, per-app registries, auth."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.budget.store import WindowState
from gateway.metrics import Metrics
from tests.conftest import ADMIN_KEY, TEAM_KEYS
from tests.gateway_harness import gateway_client
from tests.reports.agreement import exported_events, today
from tests.reports.seed import ledger_sums
from tests.support import REDIS_URL, require_redis

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def window(period: str, remaining: int, scope: str = "team") -> WindowState:
    return WindowState(scope, period, "b", 10_000_000, 0, 0, remaining)


def test_observations_and_bounded_labels() -> None:
    states = {"efficient": "closed", "flagship": "open"}
    metrics = Metrics(circuit_states=lambda: states)
    metrics.observe_request(
        team="demo",
        tier="efficient",
        categories=["headline", "mockup"],
        reasons=["headline:quoted_text_2_tokens", "mockup:term_wireframe"],
        latency_seconds=0.8,
        cost_micros=20_000,
        window_states=[
            window("day", 5_000_000),
            window("day", 3_000_000, "key:k"),
            window("month", 90_000_000),
        ],
        remaining_adjust_micros=1_000,
    )
    metrics.observe_request(
        team="demo",
        tier="flagship",
        categories=[],
        reasons=["photorealism:term_dslr"],
        latency_seconds=12.0,
        cost_micros=35_000,
    )
    metrics.observe_rejection(team="demo", reason="budget")
    metrics.observe_rejection(team="demo", reason="budget_exceeded:day:team")  # -> other
    metrics.observe_classification(0.00004)
    text = metrics.render().decode()
    requests = {k: v for k, v in samples(text).items() if k[0] == "tiergate_requests_total"}
    assert requests == {
        (
            "tiergate_requests_total",
            (
                ("category", "headline"),
                ("reason", "headline"),
                ("status", "ok"),
                ("tier", "efficient"),
            ),
        ): 1.0,
        (
            "tiergate_requests_total",
            (
                ("category", "mockup"),
                ("reason", "headline"),
                ("status", "ok"),
                ("tier", "efficient"),
            ),
        ): 1.0,
        (
            "tiergate_requests_total",
            (
                ("category", "none"),
                ("reason", "photorealism"),
                ("status", "ok"),
                ("tier", "flagship"),
            ),
        ): 1.0,
    }
    assert value(text, "tiergate_cost_micros_total", team="demo", tier="efficient") == 20_000
    assert value(text, "tiergate_budget_remaining_micros", team="demo", period="day") == 3_001_000
    assert (
        value(text, "tiergate_budget_remaining_micros", team="demo", period="month") == 90_001_000
    )
    assert value(text, "tiergate_request_latency_seconds_count", tier="flagship") == 1
    assert value(text, "tiergate_request_latency_seconds_bucket", tier="flagship", le="16.0") == 1
    assert value(text, "tiergate_request_latency_seconds_bucket", tier="flagship", le="10.0") == 0
    assert value(text, "tiergate_rejections_total", team="demo", reason="budget") == 1
    assert value(text, "tiergate_rejections_total", team="demo", reason="other") == 1
    assert value(text, "tiergate_classifier_seconds_count") == 1
    assert value(text, "tiergate_circuit_state", tier="flagship") == 2
    states["flagship"] = "half_open"  # read at scrape time
    assert value(metrics.render().decode(), "tiergate_circuit_state", tier="flagship") == 1


def test_each_app_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.observe_rejection(team="demo", reason="rate")
    assert (
        value(first.render().decode(), "tiergate_rejections_total", team="demo", reason="rate") == 1
    )
    assert (
        value(second.render().decode(), "tiergate_rejections_total", team="demo", reason="rate")
        == 0
    )


@pytest.fixture
async def gateway(sim_env: dict[str, str]) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    require_redis()
    async with gateway_client(sim_env, store=REDIS_URL) as (client, app):
        if getattr(app.state, "metrics", None) is None:  # until create_app constructs it
            caller = app.state.tiergate.service.caller
            app.state.metrics = Metrics(circuit_states=caller.circuit_states)
        yield client, app


@pytest.mark.redis
async def test_metrics_endpoint_needs_an_admin_key(
    gateway: tuple[httpx.AsyncClient, Any],
) -> None:
    client, _ = gateway
    missing = await client.get("/metrics")
    assert missing.status_code == 401
    team = await client.get("/metrics", headers={"Authorization": f"Bearer {TEAM_KEYS['demo']}"})
    assert team.status_code == 403 and team.json()["error"]["type"] == "permission_error"
    admin = await client.get("/metrics", headers=ADMIN)
    assert admin.status_code == 200 and admin.headers["content-type"].startswith("text/plain")
    assert value(admin.text, "tiergate_circuit_state", tier="flagship") == 0


PROMPTS = (
    ("demo", "a 35mm photo of a lighthouse at dawn, shot on a DSLR"),
    ("demo", 'A poster that says "Summer Sale"'),
    ("alpha", "a manga panel of a cat samurai"),
    ("beta", "a wireframe mockup of a settings page"),
)


@pytest.mark.redis
async def test_metrics_count_what_the_run_did(gateway: tuple[httpx.AsyncClient, Any]) -> None:
    client, app = gateway
    for team, prompt in PROMPTS:
        got = await client.post(
            "/v1/images/generations",
            json={"prompt": prompt},
            headers={"Authorization": f"Bearer {TEAM_KEYS[team]}"},
        )
        assert got.status_code == 200, got.text
    text = (await client.get("/metrics", headers=ADMIN)).text
    store = app.state.tiergate.store
    for team in ("demo", "alpha", "beta"):
        sums = ledger_sums(await exported_events(store, team, today(), today()))
        for tier, cost in sums.tier_cost.items():
            assert value(text, "tiergate_cost_micros_total", team=team, tier=tier) == cost
    latency_count = sum(
        v
        for (name, _), v in samples(text).items()
        if name == "tiergate_request_latency_seconds_count"
    )
    assert latency_count == len(PROMPTS)
    assert value(text, "tiergate_classifier_seconds_count") >= len(PROMPTS)
    assert value(text, "tiergate_budget_remaining_micros", team="demo", period="day") > 0
