"""Which images get checked, against which text, escalating where (pure, table-driven)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from gateway.classify import Classifier
from gateway.classify.config import ClassifierConfig
from gateway.errors import InvalidRequest
from gateway.policy.loader import PolicyError, load_policy_text
from gateway.verify.plan import header_choice, verify_plan
from tests.conftest import policy_dict

CLASSIFIER = Classifier.from_config(ClassifierConfig())
HEADLINE = 'A banner with the headline "Summer Sale"'
NO_TEXT = "a flat icon of a paper plane"


def policy(**alpha: Any) -> Any:
    return load_policy_text(yaml.safe_dump(policy_dict(alpha=alpha)), env={})


@pytest.mark.parametrize(
    ("team", "prompt", "tier", "choice", "expected"),
    [
        ({}, HEADLINE, "efficient", None, ("Summer Sale", "flagship")),
        ({}, HEADLINE, "flagship", None, None),  # already the tier it would escalate to
        ({}, NO_TEXT, "efficient", None, None),  # no text to check
        ({}, NO_TEXT, "efficient", "on", None),  # "on" still needs text
        ({"verify": {"text": {"categories": ["typography"]}}}, HEADLINE, "efficient", None, None),
        (  # "on" checks whatever the categories
            {"verify": {"text": {"categories": ["typography"]}}},
            HEADLINE,
            "efficient",
            "on",
            ("Summer Sale", "flagship"),
        ),
        ({}, HEADLINE, "efficient", "off", None),
        ({"allow_verify_header": False}, HEADLINE, "efficient", "off", ("Summer Sale", "flagship")),
        ({"verify": {}}, HEADLINE, "efficient", None, None),  # the team turned it off
        (
            {"verify": {"text": {"categories": ["headline"], "max_attempts": 1}}},
            HEADLINE,
            "efficient",
            None,
            ("Summer Sale", None),  # check and report, no second call
        ),
        ({"allowed_tiers": ["efficient"]}, HEADLINE, "efficient", None, ("Summer Sale", None)),
    ],
)
def test_verify_plan(
    team: dict[str, Any], prompt: str, tier: str, choice: str | None, expected: Any
) -> None:
    plan = verify_plan(policy(**team), "alpha", CLASSIFIER.classify(prompt), tier, choice)
    if expected is None:
        assert plan is None
    else:
        assert plan is not None and (plan.expected, plan.escalate_to) == expected


def test_header_values() -> None:
    assert header_choice(None) is None
    assert header_choice(" ON ") == "on" and header_choice("off") == "off"
    with pytest.raises(InvalidRequest):
        header_choice("yes")


def test_policy_names_the_path_of_a_bad_verify_setting() -> None:
    raw = policy_dict(alpha={"verify": {"text": {"escalate_to": "platinum"}}})
    raw["routing"]["verify"]["text"]["categories"] = ["headline", "fonts"]
    with pytest.raises(PolicyError) as refused:
        load_policy_text(yaml.safe_dump(raw), env={})
    errors = "\n".join(refused.value.errors)
    assert "routing.verify.text.categories" in errors and "fonts" in errors
    raw["routing"]["verify"]["text"]["categories"] = ["headline"]
    with pytest.raises(PolicyError) as refused:
        load_policy_text(yaml.safe_dump(raw), env={})
    assert "teams.alpha.verify.text.escalate_to: unknown tier 'platinum'" in "\n".join(
        refused.value.errors
    )
