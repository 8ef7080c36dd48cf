"""Explain a routing decision: the classification and the decision, as JSON-ready data."""

from __future__ import annotations

from typing import Any

from gateway.classify import Classifier
from gateway.policy.schema import Policy
from gateway.routing import RouteContext, decide_route


def explain_with(
    classifier: Classifier,
    policy: Policy,
    team: str,
    prompt: str,
    model: str = "auto",
    context: RouteContext | None = None,
) -> dict[str, Any]:
    classification = classifier.classify(prompt)
    decision = decide_route(policy, team, model, classification, context)
    return {
        "team": team,
        "classification": classification.to_dict(),
        "decision": {
            "tier": decision.tier,
            "model": decision.model,
            "reasons": list(decision.reasons),
            "forced": decision.forced,
            "classified_tier": decision.classified_tier,
        },
    }


def explain_prompt(policy: Policy, team: str, prompt: str, model: str = "auto") -> dict[str, Any]:
    return explain_with(Classifier.from_config(policy.classifier), policy, team, prompt, model)
