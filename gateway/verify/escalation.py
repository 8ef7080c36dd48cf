"""One verified request's check and, below the threshold, its escalation: the second call,
its price and the choice of the better-reading image."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from gateway.api.models import ImageGenerationRequest
from gateway.errors import GatewayError
from gateway.pipeline.pricing import Pricing
from gateway.pipeline.resilience import CallOutcome
from gateway.upstream.backend import UpstreamResult
from gateway.verify.check import TextCheck, Verification
from gateway.verify.plan import VerifyPlan

log = structlog.get_logger("gateway.verify")

Priced = tuple[int, int, int, bool]
"""(text tokens, image tokens, cost, usage reported), as ``Pricing.priced`` gives."""


@dataclass(frozen=True, slots=True)
class VerifyStep:
    verification: Verification
    replacement: tuple[UpstreamResult, Priced] | None = None
    """The escalation's result and pricing, when it is the image to return."""


async def check_and_escalate(
    text_check: TextCheck,
    pricing: Pricing,
    plan: VerifyPlan,
    request: ImageGenerationRequest,
    result: UpstreamResult,
    tier_name: str,
    prompt_tokens: int,
    *,
    escalation_reserved: bool,
    escalation_blocked: bool,
    call: Callable[[str], Awaitable[CallOutcome]],
) -> VerifyStep | None:
    """Check the image; below the threshold, ``call`` the escalation tier (its worst case is
    already reserved when ``escalation_reserved``) and keep the better of the two images.
    The second call's cost is in the step either way. None: the check could not run."""
    first, seconds = await text_check.safe_score(result, plan.expected)
    if first is None:
        return None  # the image goes back unverified
    score = first
    passed = score >= plan.min_similarity
    if passed or plan.escalate_to is None:
        return VerifyStep(Verification(score, passed, tier_name, ocr_seconds=seconds))
    escalate = plan.escalate_to
    if escalation_blocked or not escalation_reserved:
        why = "budget" if escalation_blocked else "disabled"
        return VerifyStep(
            Verification(score, False, tier_name, escalation=why, ocr_seconds=seconds)
        )
    try:
        called = await call(escalate)
    except GatewayError as exc:
        log.warning("verify_escalation_failed", tier=escalate, error_code=exc.code)
        return VerifyStep(
            Verification(score, False, tier_name, escalation="failed", ocr_seconds=seconds)
        )
    priced = pricing.priced(escalate, request, called.result, prompt_tokens)
    read, more_seconds = await text_check.safe_score(called.result, plan.expected)
    second = score if read is None else read
    verification = Verification(
        score,
        False,
        tier_name,
        escalated_to=escalate,
        escalated_similarity=second,
        escalated_passed=second >= plan.min_similarity,
        escalation_cost_micros=priced[2],
        ocr_seconds=seconds + more_seconds,
    )
    # The better image is returned: the escalation's unless it read worse.
    if second >= score:
        return VerifyStep(verification, (called.result, priced))
    return VerifyStep(verification)
