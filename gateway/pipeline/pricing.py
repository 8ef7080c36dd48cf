"""What a request costs on a tier: its worst case before the call, its cost after it
(from the usage the tier reported, else the worst case), and the all-flagship baseline.

An edit's input images are priced from their dimensions (``gateway.tokens.input_image_tokens``)
at the tier's ``image_input_per_mtok``, before and after the call alike."""

from __future__ import annotations

from gateway.api.models import ImageGenerationRequest
from gateway.errors import InvalidRequest
from gateway.policy.schema import Policy, Tier
from gateway.upstream.backend import UpstreamResult


def estimate_usage(
    tier: Tier, request: ImageGenerationRequest, text_tokens: int
) -> tuple[int, int]:
    """Worst-case (text tokens, image tokens) for a request on a tier; raises for sizes it lacks."""
    size = request.resolved_size
    if size not in tier.image_tokens:
        raise InvalidRequest(
            f"Invalid 'size': '{request.size}' is not supported; use one of: auto, "
            + ", ".join(tier.image_tokens),
            param="size",
            code="invalid_value",
        )
    image_tokens = tier.image_tokens_for(size, request.resolved_quality) * request.n
    return text_tokens, image_tokens


class Pricing:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.baseline_tier = policy.routing.precedence[0]

    def estimate(self, tier_name: str, request: ImageGenerationRequest, prompt_tokens: int) -> int:
        """The most the request can cost on the tier (raises for a size it lacks)."""
        tier = self.policy.tiers[tier_name]
        text_tokens, image_tokens = estimate_usage(tier, request, prompt_tokens)
        return tier.pricing.cost_micros(text_tokens, image_tokens, request.input_image_tokens)

    def priced(
        self,
        tier_name: str,
        request: ImageGenerationRequest,
        result: UpstreamResult,
        prompt_tokens: int,
    ) -> tuple[int, int, int, bool]:
        """(text tokens, image tokens, cost, usage reported) of one call's result."""
        tier = self.policy.tiers[tier_name]
        est_text, est_image = estimate_usage(tier, request, prompt_tokens)
        reported = result.text_tokens is not None and result.image_tokens is not None
        text_tokens = result.text_tokens if result.text_tokens is not None else est_text
        image_tokens = result.image_tokens if result.image_tokens is not None else est_image
        return (
            text_tokens,
            image_tokens,
            tier.pricing.cost_micros(text_tokens, image_tokens, request.input_image_tokens),
            reported,
        )

    def baseline_cost(
        self, text_tokens: int, image_tokens: int, input_image_tokens: int = 0
    ) -> int:
        """What the same usage would have cost on the baseline (flagship) tier."""
        return self.policy.tiers[self.baseline_tier].pricing.cost_micros(
            text_tokens, image_tokens, input_image_tokens
        )

    def baseline_estimate(self, request: ImageGenerationRequest, prompt_tokens: int) -> int:
        """The baseline tier's worst case, or 0 when it cannot serve the request."""
        try:
            return self.estimate(self.baseline_tier, request, prompt_tokens)
        except InvalidRequest:
            return 0
