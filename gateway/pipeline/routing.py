"""Pick the tier for one request: a pure function of the classified prompt, policy and snapshot.

``decide_route`` never awaits, touches Redis or reads the clock. It returns the
tier, the litellm model and short reason codes (``typography:quoted_text_14_tokens``,
``budget_soft_limit``, ``latency_budget:p95_4100ms``…) for the response header and the log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

from gateway.classify import FLAGSHIP_CATEGORIES, Category, Classification, reason_codes
from gateway.classify.learned import FlagshipModel, routing_score
from gateway.errors import LatencyBudgetUnmet, PermissionDenied, UnknownModel
from gateway.policy.schema import Policy, Team

AUTO_MODEL = "auto"
#: The reason code (before ``=<p>``) of a tier the learned model changed.
MODEL_REASON = "model:flagship_p"


@dataclass(frozen=True, slots=True)
class RouteContext:
    """What decide_route needs to know about the moment: budget state and observed latencies."""

    soft_limit_reached: bool = False
    tier_p95_ms: Mapping[str, float] = field(default_factory=dict)
    max_latency_ms: int | None = None


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    tier: str
    model: str
    reasons: tuple[str, ...]
    forced: bool = False
    classified_tier: str | None = None


def resolve_model_name(policy: Policy, requested: str) -> str | None:
    """The tier a client's ``model`` names (tier, alias or litellm model), or None for auto."""
    if requested == AUTO_MODEL:
        return None
    for name, tier in policy.tiers.items():
        if requested == name or requested == tier.model or requested in tier.aliases:
            return name
    lowered = requested.lower()
    for name, tier in policy.tiers.items():
        names = (name, tier.model, tier.model.rsplit("/", 1)[-1], *tier.aliases)
        if lowered in (n.lower() for n in names):
            return name
    raise UnknownModel(
        f"The model '{requested}' does not exist. Use 'auto' or one of: "
        + ", ".join([AUTO_MODEL, *policy.tiers]),
        param="model",
    )


def classified_tier(
    policy: Policy, classification: Classification, team: Team | None = None
) -> tuple[str, tuple[str, ...]]:
    """The tier the prompt asks for: the rules' categories by the policy's precedence, then the
    learned model's word on the flagship (``model:flagship_p=0.87`` when it changes it)."""
    chosen, codes = _rules_tier(policy, classification.categories, classification)
    p = classification.flagship_p
    flagship = model_tier(policy)
    if (
        p is None
        or flagship is None
        or policy.routing.precedence.index(chosen) < policy.routing.precedence.index(flagship)
    ):
        return chosen, codes
    rules_flagship = chosen == flagship
    wants_flagship = routing_score(rules_flagship, p) >= score_threshold(policy, team)
    if wants_flagship == rules_flagship:
        return chosen, codes
    model_code = f"{MODEL_REASON}={p:.2f}"
    if wants_flagship:
        return flagship, (model_code,)
    # The model doubts the rules' flagship call (a share target below what the rules send):
    # the tier the other categories ask for.
    rest = frozenset(
        c
        for c in classification.categories
        if policy.routing.category_tiers.get(str(c)) != flagship
    )
    tier, rest_codes = _rules_tier(policy, rest, classification)
    return tier, (model_code, *rest_codes)


def rules_tier(policy: Policy, classification: Classification) -> tuple[str, tuple[str, ...]]:
    """The tier the rules alone ask for, with their reason codes."""
    return _rules_tier(policy, classification.categories, classification)


def _rules_tier(
    policy: Policy, categories: frozenset[Category], classification: Classification
) -> tuple[str, tuple[str, ...]]:
    wanted = {
        policy.routing.category_tiers[str(category)]
        for category in categories
        if str(category) in policy.routing.category_tiers
    }
    chosen = next(
        (t for t in policy.routing.precedence if t in wanted), policy.routing.default_tier
    )
    winning = {str(c) for c in categories if policy.routing.category_tiers.get(str(c)) == chosen}
    codes = tuple(
        code for code in reason_codes(classification) if code.split(":", 1)[0] in winning
    ) or (f"default_tier:{chosen}",)
    return chosen, codes


def model_tier(policy: Policy) -> str | None:
    """The tier the learned model's "flagship" means: the first, by precedence, of the tiers
    the flagship categories map to (None if the policy maps them nowhere)."""
    wanted = {policy.routing.category_tiers.get(str(c)) for c in FLAGSHIP_CATEGORIES}
    return next((t for t in policy.routing.precedence if t in wanted), None)


def share_setting(policy: Policy, team: Team | None = None) -> tuple[float | None, float]:
    """(target share or None, routing-score threshold) in force for a team: the first of the
    team and the routing section that sets either, as an explicit threshold or a target read
    off the model's reference set; else no target and the model's default (rules' flagship
    prompts stay, others go at ``p >= threshold``)."""
    for source in (team, policy.routing):
        if source is None:
            continue
        if source.flagship_threshold is not None:
            return None, source.flagship_threshold
        if source.flagship_share_target is not None:
            target = source.flagship_share_target
            return target, _threshold_for_share(target)
    return None, FlagshipModel.builtin().default_score_threshold


def score_threshold(policy: Policy, team: Team | None = None) -> float:
    """The routing-score threshold in force for a team (``share_setting``)."""
    return share_setting(policy, team)[1]


@cache
def _threshold_for_share(share: float) -> float:
    return FlagshipModel.builtin().threshold_for_share(share)


def decide_route(
    policy: Policy,
    team_name: str,
    requested_model: str,
    classification: Classification | None,
    context: RouteContext | None = None,
) -> RoutingDecision:
    context = context or RouteContext()
    team = policy.teams[team_name]
    forced = resolve_model_name(policy, requested_model)
    if forced is not None:
        if not _allowed(team, forced):
            raise PermissionDenied(
                f"Team '{team_name}' may not use the '{forced}' tier.",
                param="model",
                code="tier_not_allowed",
            )
        return RoutingDecision(
            forced, policy.tiers[forced].model, (f"forced:{forced}",), forced=True
        )

    reasons: tuple[str, ...]
    if classification is None:
        tier, reasons = (
            policy.routing.default_tier,
            (f"default_tier:{policy.routing.default_tier}",),
        )
    else:
        tier, reasons = classified_tier(policy, classification, team)
    from_classifier = tier
    precedence = policy.routing.precedence

    if not _allowed(team, tier):
        tier = _nearest_allowed(team, tier, precedence)
        reasons += (
            f"team_policy:{tier}_only" if len(team.allowed_tiers or ()) == 1 else "team_policy",
        )

    soft_tier = policy.routing.soft_limit_tier
    if (
        context.soft_limit_reached
        and team.downgrade_on_soft_limit
        and soft_tier is not None
        and _allowed(team, soft_tier)
        and precedence.index(tier) < precedence.index(soft_tier)
    ):
        tier = soft_tier
        reasons += ("budget_soft_limit",)

    max_latency = context.max_latency_ms or team.latency_slo_ms
    if max_latency is not None:
        tier, latency_reason = _fit_latency(
            policy, team, tier, max_latency, context.tier_p95_ms, precedence
        )
        if latency_reason:
            reasons += (latency_reason,)

    return RoutingDecision(
        tier, policy.tiers[tier].model, reasons, forced=False, classified_tier=from_classifier
    )


def _allowed(team: Team, tier: str) -> bool:
    return team.allowed_tiers is None or tier in team.allowed_tiers


def _nearest_allowed(team: Team, tier: str, precedence: Sequence[str]) -> str:
    """Prefer the next cheaper allowed tier, else the nearest dearer one."""
    start = precedence.index(tier)
    cheaper = [t for t in precedence[start + 1 :] if _allowed(team, t)]
    dearer = [t for t in reversed(precedence[:start]) if _allowed(team, t)]
    for candidate in (*cheaper, *dearer):
        return candidate
    raise PermissionDenied("This team may use no configured tier.", code="tier_not_allowed")


def _fit_latency(
    policy: Policy,
    team: Team,
    tier: str,
    max_latency_ms: int,
    p95_ms: Mapping[str, float],
    precedence: Sequence[str],
) -> tuple[str, str | None]:
    observed = p95_ms.get(tier)
    if observed is None or observed <= max_latency_ms:
        return tier, None
    # Only the same or cheaper tiers: a latency budget never makes a request dearer.
    candidates: Iterable[str] = (
        t for t in precedence[precedence.index(tier) :] if _allowed(team, t)
    )
    for candidate in candidates:
        p95 = p95_ms.get(candidate)
        if p95 is not None and p95 <= max_latency_ms:
            return candidate, f"latency_budget:p95_{round(p95)}ms_le_{max_latency_ms}ms"
    if policy.routing.on_latency_miss == "reject":
        raise LatencyBudgetUnmet(
            f"No tier's observed p95 latency fits {max_latency_ms} ms.",
            param="x-tiergate-max-latency-ms",
        )
    known = {
        t: p95_ms[t]
        for t in precedence[precedence.index(tier) :]
        if _allowed(team, t) and t in p95_ms
    }
    fastest = min(known, key=known.__getitem__, default=tier)
    return fastest, f"latency_budget:fastest_p95_{round(known.get(fastest, observed))}ms"
