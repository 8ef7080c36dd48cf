"""What a verified request adds to the ledger entry and the day's aggregates (pure).

Aggregate fields (beside ``gateway.usage``'s)::

    verify:requests                      requests whose image was checked
    verify:tier:<tier>:checked|passed    images checked, and those that read right, per tier
    verify:cat:<category>:checked|passed the same per prompt category
    verify:escalated, verify:escalation_micros    second calls and what they cost
    verify:escalation_skipped:<why>      due escalations not made: budget, failed, disabled
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gateway.verify.check import Verification


def verification_ledger(
    verification: Verification, first_tier: str, first_cost_micros: int
) -> dict[str, str]:
    fields = {
        "verify": "text",
        "verify_similarity": f"{verification.similarity:.3f}",
        "verify_first_tier": first_tier,
        "verify_first_cost_micros": str(first_cost_micros),
    }
    if verification.escalated_to is not None:
        fields["verify_escalated_to"] = verification.escalated_to
        fields["verify_escalation_cost_micros"] = str(verification.escalation_cost_micros)
        fields["verify_escalated_similarity"] = f"{verification.escalated_similarity or 0:.3f}"
    elif verification.escalation is not None:
        fields["verify_escalation"] = verification.escalation
    return fields


def add_verification(
    usage: Mapping[str, int],
    verification: Verification,
    categories: Iterable[str],
    first_tier: str,
    first_cost_micros: int,
    served_tier: str,
) -> dict[str, int]:
    """``usage`` with the check's counters, and each tier's cost its own when both ran."""
    fields = dict(usage)

    def bump(name: str, by: int = 1) -> None:
        fields[name] = fields.get(name, 0) + by

    categories = list(categories)
    bump("verify:requests")
    bump(f"verify:tier:{verification.checked_tier}:checked")
    if verification.passed:
        bump(f"verify:tier:{verification.checked_tier}:passed")
    for category in categories:
        bump(f"verify:cat:{category}:checked")
        if verification.passed:
            bump(f"verify:cat:{category}:passed")
    if verification.escalated_to is not None:
        second = verification.escalated_to
        bump("verify:escalated")
        bump("verify:escalation_micros", verification.escalation_cost_micros)
        bump(f"verify:tier:{second}:checked")
        if verification.escalated_passed:
            bump(f"verify:tier:{second}:passed")
        # Both tiers ran: each tier's cost is its own call's.
        served_cost = (
            verification.escalation_cost_micros if served_tier == second else first_cost_micros
        )
        fields[f"tier:{served_tier}:cost_micros"] = served_cost
        other = first_tier if served_tier == second else second
        bump(f"tier:{other}:cost_micros", fields["cost_micros"] - served_cost)
    elif verification.escalation is not None:
        bump(f"verify:escalation_skipped:{verification.escalation}")
    return fields
