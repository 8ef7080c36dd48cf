"""Explain a routing decision: the classification and the decision, as JSON-ready data."""

from __future__ import annotations

from typing import Any

from gateway.classify import Classifier
from gateway.pipeline.routing import RouteContext, decide_route
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


def explain_prompt(policy: Policy, team: str, prompt: str, model: str = "auto") -> dict[str, Any]:
    return explain_with(Classifier.from_config(policy.classifier), policy, team, prompt, model)
