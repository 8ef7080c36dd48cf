"""Explain a routing decision: the classification and the decision, as JSON-ready data."""

from __future__ import annotations

from typing import Any

from gateway.classify import Classification, Classifier
from gateway.classify.learned import routing_score
from gateway.pipeline.routing import (
    RouteContext,
    decide_route,
    model_tier,
    rules_tier,
    share_setting,
)
from gateway.policy.schema import Policy
from gateway.verify.plan import verify_plan


def explain_with(
    classifier: Classifier,
    policy: Policy,
    team: str,
    prompt: str,
    model: str = "auto",
    context: RouteContext | None = None,
    verify: str | None = None,
) -> dict[str, Any]:
    classification = classifier.classify(prompt)
    decision = decide_route(policy, team, model, classification, context)
    plan = verify_plan(policy, team, classification, decision.tier, verify)
    return {
        "team": team,
        "classification": classification.to_dict(),
        "rules": {
            "tier": rules_tier(policy, classification)[0],
            "hits": rule_hits(classification),
        },
        "model": model_view(policy, team, classification),
        "decision": {
            "tier": decision.tier,
            "model": decision.model,
            "reasons": list(decision.reasons),
            "forced": decision.forced,
            "classified_tier": decision.classified_tier,
        },
        "verify": (
            {
                "text": True,
                "expected_text": plan.expected,
                "min_similarity": plan.min_similarity,
                "escalate_to": plan.escalate_to,
            }
            if plan is not None
            else {"text": False}
        ),
    }


def rule_hits(classification: Classification) -> list[str]:
    """The rules' evidence, ``category: term`` (quoted text as it was found), fired first."""
    hits = []
    for category, terms in classification.evidence.items():
        fired = category in classification.categories
        for term in terms:
            hits.append(f"{category.value}: {term}" + ("" if fired else " (below threshold)"))
    return hits


def model_view(policy: Policy, team: str, classification: Classification) -> dict[str, Any]:
    """The learned model's side: its probability, the score and threshold it is routed on,
    and whether it changed the rules' tier."""
    p = classification.flagship_p
    if p is None:
        return {"enabled": False}
    target, threshold = share_setting(policy, policy.teams[team])
    score = routing_score(classification.rules_flagship, p)
    flagship = model_tier(policy)
    by_rules = rules_tier(policy, classification)[0]
    return {
        "enabled": True,
        "flagship_p": round(p, 4),
        "routing_score": round(score, 4),
        "threshold": round(threshold, 4),
        "share_target": target,
        "says": "flagship" if score >= threshold else "not flagship",
        "flagship_tier": flagship,
        "changed_tier": (score >= threshold) != (by_rules == flagship),
    }


def explain_text(result: dict[str, Any]) -> str:
    """The rules and the model side by side, then the decision, for a terminal."""
    c, rules, model, d = (
        result["classification"],
        result["rules"],
        result["model"],
        result["decision"],
    )
    lines = [
        f"rules  -> {rules['tier']:<10} categories: {', '.join(c['categories'])}",
        *(f"           {hit}" for hit in rules["hits"]),
    ]
    if model["enabled"]:
        target = model["share_target"]
        lines.append(
            f"model  -> {model['says']:<10} flagship_p={model['flagship_p']:.2f}, score "
            f"{model['routing_score']:.3f} vs threshold {model['threshold']:.3f}"
            + (f" (share target {target:.0%})" if target else "")
            + ("  [changed the tier]" if model["changed_tier"] else "")
        )
    else:
        lines.append("model  -> off (classifier.learned_model: false)")
    lines.append(f"route  -> {d['tier']:<10} {', '.join(d['reasons'])}")
    return "\n".join(lines)


def explain_prompt(policy: Policy, team: str, prompt: str, model: str = "auto") -> dict[str, Any]:
    return explain_with(Classifier.from_config(policy.classifier), policy, team, prompt, model)
