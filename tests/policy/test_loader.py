"""Policy files: the shipped ones validate; broken ones yield every error with its YAML path."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

import pytest
import yaml

from gateway.policy.loader import PolicyError, load_policy, load_policy_text
from tests.support import REPO

DEFAULT = (REPO / "policies" / "default.yaml").read_text()


def broken(mutate) -> str:  # type: ignore[no-untyped-def]
    raw = yaml.safe_load(DEFAULT)
    mutate(raw)
    return yaml.safe_dump(raw)


def errors_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(PolicyError) as info:
        load_policy_text(text, env=env or {})
    return info.value.errors


def test_default_policy_loads_with_list_prices() -> None:
    policy = load_policy(REPO / "policies" / "default.yaml", env={})
    assert set(policy.tiers) == {"efficient", "flagship"}
    assert policy.tiers["flagship"].pricing.image_output_per_mtok == Decimal("33")
    assert policy.tiers["efficient"].pricing.image_output_per_mtok == Decimal("19.5")
    assert policy.tiers["efficient"].api_base == "http://127.0.0.1:9101/v1"
    # 1056 image tokens at $19.50/M is 20,592 micro-dollars; 10 text tokens at $5/M is 50.
    assert policy.tiers["efficient"].pricing.cost_micros(10, 1056) == 20_642


def test_env_interpolation_uses_the_environment() -> None:
    policy = load_policy_text(DEFAULT, env={"TIERGATE_SIM_FLAGSHIP_PORT": "4321"})
    assert policy.tiers["flagship"].api_base == "http://127.0.0.1:4321/v1"


def test_missing_env_var_is_named_with_its_path() -> None:
    errors = errors_of((REPO / "policies/examples/azure-foundry.yaml").read_text())
    assert "tiers.efficient.api_base: environment variable AZURE_AI_API_BASE is not set" in errors
    assert any("TIERGATE_PLATFORM_KEY_SHA256" in e for e in errors)


def test_azure_example_loads_when_env_is_set() -> None:
    env = {
        "AZURE_AI_API_BASE": "https://x.services.ai.azure.com",
        "AZURE_AI_API_KEY": "sk-secret-azure-123",
        "TIERGATE_PLATFORM_KEY_SHA256": "a" * 64,
    }
    policy = load_policy(REPO / "policies/examples/azure-foundry.yaml", env=env)
    assert policy.tiers["flagship"].model == "azure_ai/MAI-Image-2"
    assert policy.tiers["flagship"].api_key is not None
    assert "sk-secret-azure-123" not in repr(policy.tiers["flagship"])  # secrets never print


def test_price_must_be_positive_and_error_names_the_path() -> None:
    text = broken(lambda p: p["tiers"]["flagship"]["pricing"].update(image_output_per_mtok=0))
    assert "tiers.flagship.pricing.image_output_per_mtok: must be greater than 0" in errors_of(text)


def test_unknown_key_is_rejected() -> None:
    text = broken(lambda p: p["tiers"]["efficient"].update(temperature=0.2))
    assert "tiers.efficient.temperature: unknown field" in errors_of(text)


def test_every_error_is_reported_at_once() -> None:
    def mutate(p: dict) -> None:  # type: ignore[type-arg]
        p["tiers"]["flagship"]["timeout_seconds"] = -1
        p["teams"]["demo"]["keys"][0]["sha256"] = "not-a-hash"
        p["teams"]["demo"]["budgets"][0]["limit_usd"] = "lots"

    errors = errors_of(broken(mutate))
    assert any(e.startswith("tiers.flagship.timeout_seconds:") for e in errors)
    assert any(e.startswith("teams.demo.keys[0].sha256:") for e in errors)
    assert any(e.startswith("teams.demo.budgets[0].limit_usd:") for e in errors)


def test_rule_naming_a_missing_tier_is_an_error_with_path() -> None:
    text = broken(lambda p: p["routing"]["category_tiers"].update(anime="premium"))
    errors = errors_of(text)
    assert any(e.startswith("routing.category_tiers.anime: unknown tier 'premium'") for e in errors)


def test_duplicate_key_hash_across_teams_is_an_error() -> None:
    def mutate(p: dict) -> None:  # type: ignore[type-arg]
        p["teams"]["other"] = {"keys": [dict(p["teams"]["demo"]["keys"][0], id="dup")]}

    assert any("same key as teams.demo.keys[0].sha256" in e for e in errors_of(broken(mutate)))


def test_yaml_syntax_error_is_reported() -> None:
    assert errors_of("tiers: [unclosed")[0].startswith("YAML syntax:")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )


def test_cli_policy_check_ok_and_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ok = run_cli("policy", "check", str(REPO / "policies" / "default.yaml"))
    assert ok.returncode == 0 and ok.stdout.strip() == "ok"
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        broken(lambda p: p["tiers"]["flagship"]["pricing"].update(image_output_per_mtok=-1))
    )
    result = run_cli("policy", "check", str(bad))
    assert result.returncode != 0
    assert "tiers.flagship.pricing.image_output_per_mtok: must be greater than 0" in result.stdout


def test_cli_policy_schema_is_json_schema() -> None:
    result = run_cli("policy", "schema")
    schema = json.loads(result.stdout)
    assert schema["type"] == "object"
    assert {"tiers", "routing", "teams"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False


def test_cli_keys_new_prints_key_and_matching_hash() -> None:
    import hashlib

    out = run_cli("keys", "new", "--team", "design").stdout
    key = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("key: "))
    digest = next(line.split("sha256: ", 1)[1] for line in out.splitlines() if "sha256: " in line)
    assert hashlib.sha256(key.encode()).hexdigest() == digest
