"""Explain (CLI and HTTP) decides like a generation without charging; logs carry no prompt text."""

from __future__ import annotations

import json
import subprocess
import sys

from structlog.testing import capture_logs

from tests.conftest import TEAM_KEYS
from tests.gateway_harness import gateway_client
from tests.support import REPO

AUTH = {"Authorization": f"Bearer {TEAM_KEYS['demo']}"}
PROMPT = 'A menu board that says "Soup of the day: roasted tomato with basil, served with bread"'


def test_cli_explain_prints_classification_and_decision() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "explain", PROMPT, "--team", "demo"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert "typography" in body["classification"]["categories"]
    assert body["decision"]["tier"] == "flagship"
    assert any(r.startswith("typography:") for r in body["decision"]["reasons"])
    unknown = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "explain", "x", "--team", "nope"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert unknown.returncode == 2 and "unknown team" in unknown.stderr


async def test_http_explain_matches_generation_and_charges_nothing(sim_env: dict[str, str]) -> None:
    async with gateway_client(sim_env) as (client, _):
        before = (await client.get("/v1/budget", headers=AUTH)).json()["windows"]
        explained = await client.post("/v1/route/explain", json={"prompt": PROMPT}, headers=AUTH)
        assert explained.status_code == 200
        body = explained.json()
        assert body["team"] == "demo" and body["decision"]["tier"] == "flagship"
        assert (await client.get("/v1/budget", headers=AUTH)).json()["windows"] == before
        generated = await client.post(
            "/v1/images/generations", json={"prompt": PROMPT}, headers=AUTH
        )
        assert generated.headers["x-tiergate-tier"] == body["decision"]["tier"]
        assert generated.headers["x-tiergate-route-reason"] == ",".join(body["decision"]["reasons"])
        assert (await client.post("/v1/route/explain", json={"prompt": PROMPT})).status_code == 401
        bad = await client.post("/v1/route/explain", json={"prompt": ""}, headers=AUTH)
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "prompt"


async def test_request_log_line_has_no_prompt_or_key(sim_env: dict[str, str]) -> None:
    async with gateway_client(sim_env) as (client, _):
        with capture_logs() as logs:
            resp = await client.post(
                "/v1/images/generations", json={"prompt": PROMPT}, headers=AUTH
            )
        assert resp.status_code == 200
        lines = [e for e in logs if e["event"] == "request"]
        assert len(lines) == 1
        line = lines[0]
        assert line["tier"] == "flagship" and line["team"] == "demo" and line["status"] == 200
        assert line["request_id"] == resp.headers["x-tiergate-request-id"]
        assert line["cost_micros"] == round(float(resp.headers["x-tiergate-cost-usd"]) * 1e6)
        # The policy the request ran under, as /readyz names the one in force.
        ready = (await client.get("/readyz")).json()
        assert line["policy"] == resp.headers["x-tiergate-policy"]
        assert line["policy"] == ready["policy"]["sha256"][:12]
        text = repr(logs)
        # "b64_json", not "b64": a random request id holds "b64" about once in 200 runs.
        assert "Soup of the day" not in text and TEAM_KEYS["demo"] not in text
        assert "b64_json" not in text and resp.json()["data"][0]["b64_json"][:40] not in text


async def test_prompt_is_logged_only_when_policy_allows(sim_env: dict[str, str]) -> None:
    async with gateway_client(sim_env, mutate=lambda p: p.update(log_prompts=True)) as (client, _):
        with capture_logs() as logs:
            await client.post("/v1/images/generations", json={"prompt": PROMPT}, headers=AUTH)
        assert [e["prompt"] for e in logs if e["event"] == "request"] == [PROMPT]


async def test_a_streamed_request_logs_its_tier_and_cost(sim_env: dict[str, str]) -> None:
    async with gateway_client(sim_env) as (client, _):
        with capture_logs() as logs:
            resp = await client.post(
                "/v1/images/generations",
                json={"prompt": "a fox in the snow", "stream": True, "partial_images": 1},
                headers=AUTH,
            )
        assert resp.status_code == 200
        assert resp.text.startswith("event: image_generation.partial_image")
        cost = next(
            line.split()[-1]
            for line in resp.text.splitlines()
            if line.startswith(": x-tiergate-cost-usd ")
        )
        (line,) = [e for e in logs if e["event"] == "request"]
        assert line["tier"] == "efficient" and line["status"] == 200
        assert line["cost_micros"] == round(float(cost) * 1e6)
        assert line["request_id"] == resp.headers["x-tiergate-request-id"]
