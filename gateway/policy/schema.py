"""The policy YAML, defined by pydantic models that reject unknown keys.

A policy names the model tiers (litellm model strings, prices, timeouts), how
classified prompts map to tiers, and the teams with their keys, budgets, rate
limits and latency SLOs. ``Policy`` is frozen once validated; cross-references
(a rule naming a tier that does not exist) are checked here with the YAML path
in the message.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from gateway.classify import Category
from gateway.classify.config import ClassifierConfig

SIZE_PATTERN = re.compile(r"^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$")
SHA256_PATTERN = r"^[0-9a-f]{64}$"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"

Name = Annotated[str, Field(pattern=NAME_PATTERN)]


class Quality(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


# Image output tokens per image, gpt-image-1 style; the simulator uses the same table.
DEFAULT_IMAGE_TOKENS: dict[str, dict[Quality, int]] = {
    "1024x1024": {Quality.low: 272, Quality.medium: 1056, Quality.high: 4160},
    "1024x1536": {Quality.low: 408, Quality.medium: 1584, Quality.high: 6240},
    "1536x1024": {Quality.low: 408, Quality.medium: 1584, Quality.high: 6240},
}


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Pricing(StrictModel):
    """List prices in USD per million tokens."""

    text_input_per_mtok: Decimal = Field(ge=0, description="USD per million text input tokens.")
    image_output_per_mtok: Decimal = Field(gt=0, description="USD per million image output tokens.")
    image_input_per_mtok: Decimal | None = Field(
        default=None,
        ge=0,
        description="USD per million input image tokens (an edit's images); default: the text "
        "input price.",
    )

    def cost_micros(self, text_tokens: int, image_tokens: int, input_image_tokens: int = 0) -> int:
        """Cost in micro-dollars, rounded up: USD per million tokens is micro-dollars per token."""
        exact = self.text_input_per_mtok * text_tokens + self.image_output_per_mtok * image_tokens
        if input_image_tokens:
            per_token = self.image_input_per_mtok
            exact += (self.text_input_per_mtok if per_token is None else per_token) * (
                input_image_tokens
            )
        return math.ceil(exact)


class CircuitBreakerConfig(StrictModel):
    """Per tier, per replica: open after `failure_threshold` requests failed on the tier
    (retries and all) within `window_seconds`."""

    failure_threshold: int = Field(default=5, ge=1)
    window_seconds: float = Field(default=30.0, gt=0)
    open_seconds: float = Field(default=15.0, gt=0, description="Wait before a half-open probe.")


class Tier(StrictModel):
    model: str = Field(min_length=1, description="litellm model string, e.g. azure_ai/MAI-Image-2.")
    aliases: tuple[str, ...] = Field(
        default=(), description="Other names a client may send in `model` to force this tier."
    )
    api_base: str | None = Field(default=None, description="Endpoint; ${ENV} interpolated.")
    api_key: SecretStr | None = Field(default=None, description="Use ${ENV_VAR}, never a literal.")
    api_version: str | None = None
    pricing: Pricing
    image_tokens: dict[str, dict[Quality, int]] = Field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_IMAGE_TOKENS.items()},
        description="Image output tokens per image, by size and quality.",
    )
    max_images: int = Field(default=10, ge=1, le=10, description="Largest n this tier accepts.")
    timeout_seconds: float = Field(default=120.0, gt=0, le=3600)
    max_retries: int = Field(default=1, ge=0, le=5, description="Retries on 429, 5xx, resets.")
    retry_backoff_ms: int = Field(default=200, ge=0, le=60_000, description="First backoff.")
    max_retry_after_seconds: float = Field(
        default=10.0, ge=0, description="Longest upstream Retry-After honoured before giving up."
    )
    circuit_breaker: CircuitBreakerConfig = CircuitBreakerConfig()
    quality_param: bool = Field(
        default=True, description="Whether the backend accepts `quality` (MAI does not)."
    )
    streams: bool = Field(
        default=False,
        description="Whether the backend streams partial images (OpenAI's `stream: true`); "
        "a streamed request to a tier that does not gets its completed event alone.",
    )

    @field_validator("image_tokens")
    @classmethod
    def _check_sizes(cls, value: dict[str, dict[Quality, int]]) -> dict[str, dict[Quality, int]]:
        if not value:
            raise ValueError("must list at least one size")
        for size, by_quality in value.items():
            if not SIZE_PATTERN.match(size):
                raise ValueError(f"size {size!r} must look like 1024x1024")
            missing = [q.value for q in Quality if q not in by_quality]
            if missing:
                raise ValueError(f"size {size} misses qualities {missing}")
            if any(tokens <= 0 for tokens in by_quality.values()):
                raise ValueError(f"size {size}: token counts must be greater than 0")
        return value

    def image_tokens_for(self, size: str, quality: Quality) -> int:
        return self.image_tokens[size][quality]


class Period(StrEnum):
    day = "day"
    month = "month"


class Budget(StrictModel):
    period: Period
    limit_usd: Decimal = Field(gt=0)
    soft_limit_fraction: float = Field(default=0.8, gt=0, le=1)

    @property
    def limit_micros(self) -> int:
        return int(self.limit_usd * 1_000_000)


class RateLimits(StrictModel):
    requests_per_minute: int | None = Field(default=None, gt=0)
    max_concurrent: int | None = Field(default=None, gt=0)


def one_budget_per_period(value: tuple[Budget, ...]) -> tuple[Budget, ...]:
    periods = [b.period for b in value]
    if len(periods) != len(set(periods)):
        raise ValueError("at most one budget per period")
    return value


class ApiKey(StrictModel):
    id: Name = Field(description="Public key id, safe to log.")
    sha256: str = Field(pattern=SHA256_PATTERN, description="Hex SHA-256 of the key.")
    budgets: tuple[Budget, ...] = Field(default=(), description="Per-key budgets (team keys).")
    rate_limits: RateLimits = RateLimits()
    disabled: bool = False

    _one_budget_per_period = field_validator("budgets")(one_budget_per_period)


class TextVerification(StrictModel):
    """Read the rendered text back (OCR) and retry on a better tier when it is wrong."""

    categories: tuple[str, ...] = Field(
        default=("headline", "typography"),
        description="Prompt categories whose images are checked (when the prompt names text "
        "to render).",
    )
    min_similarity: float = Field(
        default=0.85,
        ge=0,
        le=1,
        description="Below this similarity of the read text to the asked text, escalate.",
    )
    escalate_to: Name | None = Field(
        default="flagship",
        description="Tier to retry on; null checks and reports without escalating. Images "
        "already from this tier are not checked.",
    )
    max_attempts: int = Field(
        default=2, ge=1, le=2, description="Calls per request, the escalation included."
    )

    @field_validator("categories")
    @classmethod
    def _known_categories(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - {c.value for c in Category})
        if unknown:
            raise ValueError(
                f"unknown categories {unknown}; use {', '.join(c.value for c in Category)}"
            )
        return value


class Verify(StrictModel):
    text: TextVerification | None = Field(
        default=None, description="Text verification; off when absent."
    )


class BatchLimits(StrictModel):
    """How much of a team's capacity its batches may take, so live requests keep the rest."""

    max_concurrent: int | None = Field(
        default=None,
        gt=0,
        description="Batch items of this team running at once; default: half the team's "
        "max_concurrent (at least 1), or 16 when the team has none.",
    )
    requests_per_minute: int | None = Field(
        default=None,
        gt=0,
        description="Batch items this team starts per minute; default: half the team's "
        "requests_per_minute (at least 1), unlimited when the team has none.",
    )

    def resolved(self, team: RateLimits) -> tuple[int, int | None]:
        """(max concurrent, requests per minute or None) after the defaults."""
        concurrent = self.max_concurrent or (
            max(1, team.max_concurrent // 2) if team.max_concurrent else 16
        )
        rpm = self.requests_per_minute or (
            max(1, team.requests_per_minute // 2) if team.requests_per_minute else None
        )
        return concurrent, rpm


class FlagshipShare(StrictModel):
    """How much traffic the learned model may send to the flagship: a target share, or the
    routing-score threshold ``tiergate calibrate`` printed for one. At most one is set."""

    flagship_share_target: float | None = Field(
        default=None,
        gt=0.0,
        lt=1.0,
        description="Share of prompts to send to the flagship (e.g. 0.30); the routing-score "
        "threshold is read off the model's reference set. Lower trades quality for cost.",
    )
    flagship_threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Routing-score threshold (from `tiergate calibrate --dataset CSV --target "
        "S` on your own traffic). 0.5 and below only adds flagship prompts; above 0.5 also "
        "sends rules' flagship prompts the model doubts to the cheaper tier.",
    )

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if self.flagship_share_target is not None and self.flagship_threshold is not None:
            raise ValueError(
                "set flagship_share_target or flagship_threshold, not both (the threshold is "
                "what calibrating to a target gives)"
            )
        return self


class Team(FlagshipShare):
    keys: tuple[ApiKey, ...] = Field(min_length=1)
    budgets: tuple[Budget, ...] = ()
    rate_limits: RateLimits = RateLimits()
    allowed_tiers: tuple[Name, ...] | None = Field(
        default=None, description="Tiers this team may use; all when unset."
    )
    downgrade_on_soft_limit: bool = True
    latency_slo_ms: int | None = Field(default=None, gt=0)
    allow_downgrade_fallback: bool = True
    allow_upgrade_fallback: bool = False
    batch: BatchLimits = BatchLimits()
    verify: Verify | None = Field(
        default=None, description="Replaces routing.verify for this team when set."
    )
    allow_verify_header: bool = Field(
        default=True,
        description="Whether this team's requests may turn verification on or off with "
        "the x-tiergate-verify header.",
    )

    _one_budget_per_period = field_validator("budgets")(one_budget_per_period)


class Routing(FlagshipShare):
    default_tier: Name
    category_tiers: dict[str, Name] = Field(
        default_factory=lambda: {
            "typography": "flagship",
            "photorealism": "flagship",
            "anime": "flagship",
            "headline": "efficient",
            "mockup": "efficient",
            "general": "efficient",
        },
        description="Which tier each classifier category needs.",
    )

    @field_validator("category_tiers")
    @classmethod
    def _known_categories(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - {c.value for c in Category})
        if unknown:
            raise ValueError(
                f"unknown categories {unknown}; use {', '.join(c.value for c in Category)}"
            )
        return value

    precedence: tuple[Name, ...] = Field(
        default=("flagship", "efficient"),
        description="When categories ask for different tiers, the first tier listed here wins.",
    )
    soft_limit_tier: Name | None = Field(
        default="efficient", description="Tier used past a soft budget limit."
    )
    fallbacks: dict[Name, tuple[Name, ...]] = Field(
        default_factory=dict, description="Tiers to try, in order, when a tier fails."
    )
    latency_window_seconds: int = Field(default=300, gt=0)
    on_latency_miss: Literal["fastest", "reject"] = "fastest"
    verify: Verify = Field(default_factory=Verify, description="Checks of the images tiers return.")


class Admin(StrictModel):
    keys: tuple[ApiKey, ...] = ()


#: The Azure OpenAI data-plane API versions with the images routes (GA and preview).
AZURE_API_VERSIONS = (
    "2024-02-01",
    "2024-06-01",
    "2024-10-21",
    "2024-02-15-preview",
    "2024-03-01-preview",
    "2024-04-01-preview",
    "2024-05-01-preview",
    "2024-07-01-preview",
    "2024-08-01-preview",
    "2024-09-01-preview",
    "2024-10-01-preview",
    "2024-12-01-preview",
    "2025-01-01-preview",
    "2025-02-01-preview",
    "2025-03-01-preview",
    "2025-04-01-preview",
    "preview",
    "latest",
)


class Azure(StrictModel):
    """The Azure OpenAI routes (``/openai/deployments/{deployment}/images/...``)."""

    deployments: dict[str, str] = Field(
        default_factory=lambda: {"auto": "auto"},
        description="Deployment name -> `auto`, a tier or a tier alias. A deployment not "
        "listed is Azure's 404 DeploymentNotFound.",
    )
    api_versions: tuple[str, ...] = Field(
        default=AZURE_API_VERSIONS,
        description="The api-version values accepted; any other is Azure's 404.",
    )


class Policy(StrictModel):
    version: Literal[1] = 1
    tiers: dict[Name, Tier] = Field(min_length=1)
    routing: Routing
    teams: dict[Name, Team] = Field(min_length=1)
    classifier: ClassifierConfig = ClassifierConfig()
    admin: Admin = Admin()
    azure: Azure = Azure()
    log_prompts: bool = False
    store_failure_mode: Literal["fail_closed", "fail_open"] = Field(
        default="fail_closed",
        description="When the budget store is down: refuse with 503, or admit under a local cap "
        "and journal the spend for replay.",
    )
    fail_open_max_concurrent: int = Field(
        default=4, ge=1, description="Per replica, while failing open."
    )
    fail_open_requests_per_minute: int = Field(
        default=60, ge=1, description="Per replica, while failing open."
    )

    @model_validator(mode="after")
    def _check_references(self) -> Self:
        tiers = set(self.tiers)
        errors: list[str] = []

        def check(path: str, name: str | None) -> None:
            if name is not None and name not in tiers:
                errors.append(f"{path}: unknown tier {name!r} (tiers: {', '.join(sorted(tiers))})")

        check("routing.default_tier", self.routing.default_tier)
        check("routing.soft_limit_tier", self.routing.soft_limit_tier)
        for category, tier in self.routing.category_tiers.items():
            check(f"routing.category_tiers.{category}", tier)
        for i, tier in enumerate(self.routing.precedence):
            check(f"routing.precedence[{i}]", tier)
        for source, chain in self.routing.fallbacks.items():
            check(f"routing.fallbacks.{source}", source)
            for i, tier in enumerate(chain):
                check(f"routing.fallbacks.{source}[{i}]", tier)
        if self.routing.verify.text is not None:
            check("routing.verify.text.escalate_to", self.routing.verify.text.escalate_to)
        for team_name, team in self.teams.items():
            for i, tier in enumerate(team.allowed_tiers or ()):
                check(f"teams.{team_name}.allowed_tiers[{i}]", tier)
            if team.verify is not None and team.verify.text is not None:
                check(f"teams.{team_name}.verify.text.escalate_to", team.verify.text.escalate_to)
        names = {"auto", *tiers, *(a for t in self.tiers.values() for a in t.aliases)}
        for deployment, target in self.azure.deployments.items():
            if target not in names:
                errors.append(
                    f"azure.deployments.{deployment}: unknown target {target!r} (use auto, a "
                    "tier or an alias)"
                )
        missing_precedence = tiers - set(self.routing.precedence)
        if missing_precedence:
            errors.append(
                "routing.precedence: must list every tier, missing "
                + ", ".join(sorted(missing_precedence))
            )
        errors.extend(self._duplicate_key_errors())
        errors.extend(self._duplicate_model_name_errors())
        if errors:
            raise ValueError("; ".join(errors))
        return self

    def _duplicate_key_errors(self) -> list[str]:
        seen: dict[str, str] = {}
        errors = []
        for team_name, team in self.teams.items():
            for i, key in enumerate(team.keys):
                where = f"teams.{team_name}.keys[{i}].sha256"
                if key.sha256 in seen:
                    errors.append(f"{where}: same key as {seen[key.sha256]}")
                seen[key.sha256] = where
        for i, key in enumerate(self.admin.keys):
            where = f"admin.keys[{i}].sha256"
            if key.sha256 in seen:
                errors.append(f"{where}: same key as {seen[key.sha256]}")
            seen[key.sha256] = where
        return errors

    def _duplicate_model_name_errors(self) -> list[str]:
        seen: dict[str, str] = {"auto": "the routing alias"}
        errors = []
        for tier_name, tier in self.tiers.items():
            for i, name in enumerate((tier_name, *tier.aliases)):
                where = f"tiers.{tier_name}" + (f".aliases[{i - 1}]" if i else "")
                if name in seen and seen[name] != f"tiers.{tier_name}":
                    errors.append(f"{where}: name {name!r} already used by {seen[name]}")
                seen.setdefault(name, f"tiers.{tier_name}")
        return errors
