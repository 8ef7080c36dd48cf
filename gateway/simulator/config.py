"""Simulator settings: the fault modes (changeable at run time) and the fixed server config."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

Profile = Literal["flagship", "efficient"]
"""flagship stands in for MAI-Image-2, efficient for MAI-Image-2-Efficient."""

FAULT_RATE_FIELDS = (
    "error_rate",
    "rate_limit_rate",
    "hang_rate",
    "slow_body_rate",
    "malformed_rate",
    "reset_rate",
    "wrong_shape_rate",
)
"""The random fault modes, in the order a request's single draw is matched against them."""


class FaultSettings(BaseModel):
    """Fault modes; ``PUT /admin/faults`` replaces any subset of these at run time.

    Each ``*_rate`` is the fraction of valid image requests that get that fault; one
    uniform draw per request picks at most one fault, so the rates must sum to at most 1.
    ``fail_next`` is a countdown: the next N valid image requests are answered with
    ``fail_next_status`` before any random fault is drawn.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    error_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="answered 500")
    rate_limit_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="answered 429 with Retry-After"
    )
    hang_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="wait hang_s, then answer")
    slow_body_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="body sent in chunks over slow_body_s"
    )
    malformed_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="200 with non-JSON")
    reset_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="connection dropped")
    wrong_shape_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="200 with JSON whose 'data' is not a list"
    )
    fail_next: int = Field(default=0, ge=0, description="the next N requests fail")
    fail_next_status: int = Field(default=500, ge=400, le=599)
    retry_after_s: int = Field(default=1, ge=0, description="Retry-After on 429 answers")
    hang_s: float = Field(default=3600.0, gt=0.0)
    slow_body_s: float = Field(default=2.0, ge=0.0)
    fault_seed: int | None = Field(default=None, description="seeds the fault draws")

    @model_validator(mode="after")
    def _rates_fit_in_one_draw(self) -> Self:
        total = sum(getattr(self, name) for name in FAULT_RATE_FIELDS)
        if total > 1.0 + 1e-9:
            raise ValueError(f"the fault rates sum to {total:g}; they must sum to at most 1")
        return self

    def fault_settings(self) -> FaultSettings:
        """Just the fault fields (drops the server fields of a SimulatorConfig)."""
        return FaultSettings.model_validate(
            self.model_dump(include=set(FaultSettings.model_fields))
        )


class SimulatorConfig(FaultSettings):
    """Everything a simulator starts with; the fault fields are the initial fault settings."""

    profile: Profile = "flagship"
    latency_scale: float = Field(
        default=1.0, ge=0.0, description="multiplies the sampled latency; 0 = answer at once"
    )
    latency_seed: int | None = Field(default=None, description="seeds the latency draws")
    api_key: str | None = Field(
        default=None, description="if set, requests must carry it (api-key or Bearer)"
    )
    image_cache_size: int = Field(default=512, ge=1, description="PNGs kept in the LRU")
    text_error_rate: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="per-character chance that the text a prompt asks for comes out garbled "
        "(the whole text: 1 - (1 - rate)^characters); default 0.03 for efficient, 0 for "
        "flagship",
    )
    text_seed: int = Field(default=0, description="seeds which texts come out garbled")
    image_bytes: int | None = Field(
        default=None,
        ge=0,
        description="pad every PNG to this many bytes (random data in a private chunk), "
        "to measure what large images cost a client",
    )
