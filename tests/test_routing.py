"""decide_route is pure: table-driven decisions for each rule, override, budget and latency case."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from gateway.classify import Category, Classification
from gateway.errors import LatencyBudgetUnmet, PermissionDenied, UnknownModel
from gateway.pipeline.routing import RouteContext, decide_route
from gateway.policy.loader import load_policy_text
from gateway.policy.schema import Policy
from tests.conftest import policy_dict


def make_policy(mutate: Any = None, **teams: dict[str, Any]) -> Policy:
    raw = policy_dict(**teams)
    if mutate is not None:
        mutate(raw)
    return load_policy_text(yaml.safe_dump(raw), env={})


def classified(*categories: str) -> Classification:
    cats = frozenset(Category(c) for c in categories) or frozenset({Category.GENERAL})
    return Classification(
        scores={c: 1.0 if c in cats else 0.0 for c in Category},
        categories=cats,
        evidence={c: (f"{c.value}-term",) for c in cats if c is not Category.GENERAL},
        text_spans=(),
        literal_text_tokens=0,
    )


POLICY = make_policy()


@pytest.mark.parametrize(
    ("categories", "tier"),
    [
        ((), "efficient"),
        (("headline",), "efficient"),
        (("mockup",), "efficient"),
        (("headline", "mockup"), "efficient"),
        (("typography",), "flagship"),
        (("photorealism",), "flagship"),
        (("anime",), "flagship"),
        (("photorealism", "headline"), "flagship"),  # any flagship category wins
        (("mockup", "typography"), "flagship"),
    ],
)
def test_categories_map_to_tiers_with_flagship_precedence(
    categories: tuple[str, ...], tier: str
) -> None:
    decision = decide_route(POLICY, "demo", "auto", classified(*categories))
    assert decision.tier == tier
    assert decision.model == POLICY.tiers[tier].model
    assert decision.reasons
    assert all(r.isascii() for r in decision.reasons)


def test_reasons_name_the_winning_categories_only() -> None:
    decision = decide_route(POLICY, "demo", "auto", classified("photorealism", "headline"))
    assert decision.reasons == ("photorealism:term_photorealism_term",)


def test_precedence_can_prefer_the_efficient_tier() -> None:
    policy = make_policy(lambda p: p["routing"].update(precedence=["efficient", "flagship"]))
    assert (
        decide_route(policy, "demo", "auto", classified("photorealism", "headline")).tier
        == "efficient"
    )


def test_category_rule_can_be_moved() -> None:
    policy = make_policy(lambda p: p["routing"]["category_tiers"].update(anime="efficient"))
    assert decide_route(policy, "demo", "auto", classified("anime")).tier == "efficient"


@pytest.mark.parametrize(
    ("model", "tier"),
    [
        ("flagship", "flagship"),
        ("efficient", "efficient"),
        ("MAI-Image-2", "flagship"),
        ("mai-image-2e", "efficient"),
        ("openai/mai-image-2", "flagship"),
        ("mai-image-2", "flagship"),
    ],
)
def test_naming_a_tier_or_model_forces_it(model: str, tier: str) -> None:
    decision = decide_route(
        POLICY, "demo", model, classified("photorealism"), RouteContext(soft_limit_reached=True)
    )
    assert (decision.tier, decision.forced, decision.reasons) == (tier, True, (f"forced:{tier}",))


def test_unknown_model_names_the_param() -> None:
    with pytest.raises(UnknownModel) as info:
        decide_route(POLICY, "demo", "dall-e-3", classified())
    assert info.value.param == "model"


def test_team_limited_to_efficient_never_gets_the_flagship() -> None:
    decision = decide_route(POLICY, "beta", "auto", classified("anime"))
    assert decision.tier == "efficient"
    assert "team_policy:efficient_only" in decision.reasons
    with pytest.raises(PermissionDenied):
        decide_route(POLICY, "beta", "flagship", classified())


def test_soft_limit_downgrades_flagship_prompts() -> None:
    decision = decide_route(
        POLICY, "demo", "auto", classified("typography"), RouteContext(soft_limit_reached=True)
    )
    assert decision.tier == "efficient"
    assert decision.reasons[-1] == "budget_soft_limit"
    assert decision.classified_tier == "flagship"


def test_soft_limit_leaves_efficient_prompts_alone() -> None:
    decision = decide_route(
        POLICY, "demo", "auto", classified("mockup"), RouteContext(soft_limit_reached=True)
    )
    assert decision.tier == "efficient" and "budget_soft_limit" not in decision.reasons


def test_team_may_opt_out_of_soft_limit_downgrade() -> None:
    policy = make_policy(alpha={"downgrade_on_soft_limit": False})
    decision = decide_route(
        policy, "alpha", "auto", classified("anime"), RouteContext(soft_limit_reached=True)
    )
    assert decision.tier == "flagship"


def test_latency_budget_moves_to_a_tier_whose_p95_fits() -> None:
    context = RouteContext(tier_p95_ms={"flagship": 9000, "efficient": 6000}, max_latency_ms=7000)
    decision = decide_route(POLICY, "demo", "auto", classified("photorealism"), context)
    assert decision.tier == "efficient"
    assert decision.reasons[-1] == "latency_budget:p95_6000ms_le_7000ms"


def test_latency_budget_that_fits_changes_nothing() -> None:
    context = RouteContext(tier_p95_ms={"flagship": 5000, "efficient": 4000}, max_latency_ms=7000)
    assert decide_route(POLICY, "demo", "auto", classified("anime"), context).tier == "flagship"


def test_team_latency_slo_applies_without_header() -> None:
    policy = make_policy(alpha={"latency_slo_ms": 7000})
    context = RouteContext(tier_p95_ms={"flagship": 9000, "efficient": 6000})
    assert decide_route(policy, "alpha", "auto", classified("anime"), context).tier == "efficient"


def test_latency_never_upgrades_an_efficient_prompt() -> None:
    context = RouteContext(tier_p95_ms={"flagship": 1000, "efficient": 9000}, max_latency_ms=5000)
    decision = decide_route(POLICY, "demo", "auto", classified("mockup"), context)
    assert decision.tier == "efficient"
    assert decision.reasons[-1] == "latency_budget:fastest_p95_9000ms"


def test_no_tier_fits_takes_the_fastest_or_rejects() -> None:
    context = RouteContext(tier_p95_ms={"flagship": 9000, "efficient": 8000}, max_latency_ms=2000)
    decision = decide_route(POLICY, "demo", "auto", classified("anime"), context)
    assert (decision.tier, decision.reasons[-1]) == (
        "efficient",
        "latency_budget:fastest_p95_8000ms",
    )
    strict = make_policy(lambda p: p["routing"].update(on_latency_miss="reject"))
    with pytest.raises(LatencyBudgetUnmet):
        decide_route(strict, "demo", "auto", classified("anime"), context)


def test_unknown_latency_counts_as_fitting() -> None:
    context = RouteContext(tier_p95_ms={}, max_latency_ms=10)
    assert decide_route(POLICY, "demo", "auto", classified("anime"), context).tier == "flagship"
