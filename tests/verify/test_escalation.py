"""Verify and escalate through a real `tiergate serve` and both simulator processes."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gateway.budget import open_store
from gateway.verify.ocr import OcrReader
from gateway.verify.similarity import similarity
from tests.conftest import TEAM_KEYS, policy_dict, write_policy
from tests.support import REDIS_URL, Server, gateway, require_redis

pytestmark = [pytest.mark.redis, pytest.mark.slow]

PASSES = 'A banner with the headline "Summer Sale"'  # the efficient profile draws it right
GARBLED = 'A billboard headline "Fresh Coffee Daily"'  # ... and garbles this one
AUTH = {"authorization": f"Bearer {TEAM_KEYS['alpha']}"}


def serve(tmp_path: Path, sim_env: dict[str, str], **alpha: Any) -> tuple[Server, str]:
    raw = policy_dict(alpha=alpha)
    prefix = "tgver-" + uuid.uuid4().hex[:8]
    env = {
        **sim_env,
        "TIERGATE_STORE": REDIS_URL,
        "TIERGATE_STORE_KEY_PREFIX": prefix,
        "TIERGATE_JOURNAL_DIR": str(tmp_path / "journal"),
    }
    return gateway(write_policy(tmp_path, yaml.safe_dump(raw)), env=env).start(), prefix


@pytest.fixture
def served(tmp_path: Path, sim_env: dict[str, str]) -> Iterator[tuple[Server, str]]:
    require_redis()
    server, prefix = serve(tmp_path, sim_env, budgets=[{"period": "day", "limit_usd": 10}])
    yield server, prefix
    server.stop()


def ledger(prefix: str) -> list[dict[str, str]]:
    async def read() -> list[dict[str, str]]:
        store = open_store(REDIS_URL, key_prefix=prefix)
        try:
            return [f for _, f in await store.ledger_events("alpha", 1000)]
        finally:
            await store.close()

    return asyncio.run(read())


def spent(url: str) -> int:
    windows = httpx.get(url + "/v1/budget", headers=AUTH).json()["windows"]
    return int(windows[0]["spent_micros"])


def generate(url: str, prompt: str, **headers: str) -> httpx.Response:
    return httpx.post(
        url + "/v1/images/generations",
        json={"prompt": prompt, "size": "1024x1024"},
        headers={**AUTH, **headers},
        timeout=60,
    )


def micros(response: httpx.Response) -> int:
    return int(Decimal(response.headers["x-tiergate-cost-usd"]) * 1_000_000)


def test_a_rightly_drawn_headline_passes_without_escalation(served: tuple[Server, str]) -> None:
    server, prefix = served
    response = generate(server.url, PASSES)
    assert response.status_code == 200
    assert response.headers["x-tiergate-tier"] == "efficient"
    assert response.headers["x-tiergate-verify"] == "text;similarity=1.00"
    (entry,) = ledger(prefix)
    assert entry["verify_similarity"] == "1.000" and "verify_escalated_to" not in entry
    assert spent(server.url) == micros(response) == int(entry["cost_micros"])


def test_a_garbled_headline_escalates_and_both_calls_are_charged(
    served: tuple[Server, str],
) -> None:
    server, prefix = served
    # What each call costs alone (verification off for these two).
    alone = {
        tier: micros(
            httpx.post(
                server.url + "/v1/images/generations",
                json={"prompt": GARBLED, "size": "1024x1024", "model": tier},
                headers={**AUTH, "x-tiergate-verify": "off"},
                timeout=60,
            )
        )
        for tier in ("efficient", "flagship")
    }
    before = spent(server.url)
    response = generate(server.url, GARBLED)
    assert response.status_code == 200
    verify = response.headers["x-tiergate-verify"]
    assert verify.startswith("text;similarity=0.") and ";escalated=flagship;" in verify
    assert verify.endswith("escalated_similarity=1.00")
    assert response.headers["x-tiergate-tier"] == "flagship"
    assert "verify:escalated_to_flagship" in response.headers["x-tiergate-route-reason"]
    # The flagship's image, which reads right, is the one returned.
    png = base64.b64decode(response.json()["data"][0]["b64_json"])
    assert similarity("Fresh Coffee Daily", OcrReader(1).read_sync(png).text) == 1.0
    assert micros(response) == alone["efficient"] + alone["flagship"]
    assert spent(server.url) - before == micros(response)
    entry = ledger(prefix)[-1]
    assert int(entry["cost_micros"]) == micros(response)
    assert entry["verify_first_tier"] == "efficient"
    assert int(entry["verify_first_cost_micros"]) == alone["efficient"]
    assert int(entry["verify_escalation_cost_micros"]) == alone["flagship"]
    report = httpx.get(server.url + "/v1/reports/teams/alpha", headers=AUTH).json()
    assert report["verification"]["escalations"] == 1


def test_the_header_turns_verification_off_and_explain_says_what_would_happen(
    served: tuple[Server, str],
) -> None:
    server, _ = served
    off = generate(server.url, GARBLED, **{"x-tiergate-verify": "off"})
    assert off.headers["x-tiergate-tier"] == "efficient" and "x-tiergate-verify" not in off.headers
    bad = generate(server.url, GARBLED, **{"x-tiergate-verify": "maybe"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "x-tiergate-verify"
    explained = httpx.post(
        server.url + "/v1/route/explain", json={"prompt": GARBLED}, headers=AUTH
    ).json()
    assert explained["verify"] == {
        "text": True,
        "expected_text": "Fresh Coffee Daily",
        "min_similarity": 0.85,
        "escalate_to": "flagship",
    }
    photo = httpx.post(
        server.url + "/v1/route/explain", json={"prompt": "a photo of a cat"}, headers=AUTH
    ).json()
    assert photo["verify"] == {"text": False}


def test_a_budget_for_one_call_but_not_two_returns_the_first_image_marked(
    tmp_path: Path, sim_env: dict[str, str]
) -> None:
    require_redis()
    # One efficient call costs ~$0.021 and a flagship one ~$0.035: $0.04 holds one, not both.
    server, prefix = serve(tmp_path, sim_env, budgets=[{"period": "day", "limit_usd": 0.04}])
    try:
        response = generate(server.url, GARBLED)
        assert response.status_code == 200
        assert response.headers["x-tiergate-tier"] == "efficient"
        assert response.headers["x-tiergate-verify"].endswith(";escalation=budget")
        window = httpx.get(server.url + "/v1/budget", headers=AUTH).json()["windows"][0]
        assert window["spent_micros"] == micros(response) <= window["limit_micros"]
        assert window["reserved_micros"] == 0
        assert ledger(prefix)[-1]["verify_escalation"] == "budget"
        report = httpx.get(server.url + "/v1/reports/teams/alpha", headers=AUTH).json()
        assert report["routing"]["rejections"]["budget"] == 0  # the retry with less is no refusal
    finally:
        server.stop()


async def test_unverified_requests_are_not_held_behind_ocr(served: tuple[Server, str]) -> None:
    server, _ = served
    async with httpx.AsyncClient(base_url=server.url, headers=AUTH, timeout=120) as client:

        async def timed(prompt: str) -> float:
            started = time.perf_counter()
            response = await client.post(
                "/v1/images/generations", json={"prompt": prompt, "size": "1024x1024"}
            )
            assert response.status_code == 200
            return time.perf_counter() - started

        verified = [timed(f'A banner with the headline "Sale {i}"') for i in range(32)]
        plain = [timed(f"a flat icon of a paper plane number {i}") for i in range(32)]
        results = await asyncio.gather(*verified, *plain)
    slow, fast = sorted(results[:32]), sorted(results[32:])
    # 32 images through two OCR threads take seconds; the plain requests do not wait for them.
    assert fast[16] < slow[16] and fast[-1] < slow[-1]
