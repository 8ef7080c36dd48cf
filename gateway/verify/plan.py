"""Whether a request's image is checked, against what, and where it escalates (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.classify import Classification
from gateway.errors import InvalidRequest
from gateway.policy.schema import Policy, TextVerification

HEADER = "x-tiergate-verify"


@dataclass(frozen=True, slots=True)
class VerifyPlan:
    expected: str
    """The text the prompt asks to render (its text spans, joined)."""
    min_similarity: float
    escalate_to: str | None
    """None: check and report, never call a second tier."""


def header_choice(value: str | None) -> str | None:
    """``on``, ``off`` or None from the ``x-tiergate-verify`` header (400 otherwise)."""
    if value is None:
        return None
    choice = value.strip().lower()
    if choice not in ("on", "off"):
        raise InvalidRequest(f"Invalid '{HEADER}': expected 'on' or 'off'.", param=HEADER)
    return choice


def requested_text(classification: Classification) -> str:
    return " ".join(span.text for span in classification.text_spans)


def verify_plan(
    policy: Policy,
    team: str,
    classification: Classification,
    tier: str,
    choice: str | None = None,
) -> VerifyPlan | None:
    """The check for an image from ``tier``, or None. The team's ``verify`` replaces the
    policy's; a header ``choice`` counts only where the team allows it: ``off`` skips the
    check, ``on`` checks any prompt with text to render, whatever its categories."""
    team_policy = policy.teams[team]
    if not team_policy.allow_verify_header:
        choice = None
    if choice == "off":
        return None
    config = (team_policy.verify or policy.routing.verify).text
    if config is None:
        if choice != "on":
            return None
        config = TextVerification(escalate_to=policy.routing.precedence[0])
    expected = requested_text(classification)
    if not expected.strip():
        return None
    asked = {c.value for c in classification.categories}
    if choice != "on" and not asked & set(config.categories):
        return None
    if tier == config.escalate_to:
        return None  # already the tier it would escalate to: nothing better to try
    escalate = config.escalate_to if config.max_attempts > 1 else None
    allowed = team_policy.allowed_tiers
    if escalate is not None and allowed is not None and escalate not in allowed:
        escalate = None
    return VerifyPlan(expected, config.min_similarity, escalate)
