"""The ``TeamReport`` model: the report's JSON shape, checked in as ``team_report.schema.json``.

Money appears twice, as integer micro-dollars (exact, for machines) and as a USD
string with six decimals (for people); never as a float.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_REPORT_DAYS = 400


def usd_string(micros: int) -> str:
    """Exact decimal USD for an integer amount of micro-dollars, e.g. 1234567 -> "1.234567"."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), 1_000_000)
    return f"{sign}{whole}.{frac:06d}"


class ReportModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Money(ReportModel):
    micros: int = Field(description="Integer micro-dollars (1 USD = 1,000,000).")
    usd: str = Field(pattern=r"^-?[0-9]+\.[0-9]{6}$", description="The same amount in USD.")

    @classmethod
    def of(cls, micros: int) -> Money:
        return cls(micros=micros, usd=usd_string(micros))


class ReportPeriod(ReportModel):
    """UTC calendar days from `start` to `end`, both included."""

    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end < self.start:
            raise ValueError("the period's end is before its start")
        if self.days > MAX_REPORT_DAYS:
            raise ValueError(f"a report covers at most {MAX_REPORT_DAYS} days")
        if self.end.year >= date.max.year:  # month arithmetic past the end needs a year 10000
            raise ValueError(f"the period must end before {date.max.year}")
        return self

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    def buckets(self) -> list[str]:
        """Day buckets of the usage aggregates, ``YYYY-MM-DD``."""
        return [d.isoformat() for d in self.dates()]


class Totals(ReportModel):
    requests: int
    images: int
    text_tokens: int
    image_tokens: int
    cost: Money
    baseline: Money = Field(description="What the same requests would have cost all on flagship.")
    savings: Money = Field(description="baseline - cost.")
    savings_percent: float | None = Field(
        description="savings / baseline * 100; null without a baseline."
    )
    live: SourceUsage = Field(description="Synchronous calls (POST /v1/images/generations).")
    batch: SourceUsage = Field(description="Items of batches (POST /v1/batches).")


class SourceUsage(ReportModel):
    requests: int
    images: int
    cost: Money


class BudgetWindowUsage(ReportModel):
    bucket: str = Field(description="YYYY-MM-DD for a day budget, YYYY-MM for a month budget.")
    spent: Money = Field(description="Spend in this window within the report period.")
    percent_used: float
    state: Literal["ok", "soft", "over"] = Field(
        description="ok below the soft limit, soft from the soft limit, over at or past the limit."
    )
    partial: bool = Field(description="True if the report period covers only part of the window.")


class BudgetUsage(ReportModel):
    period: Literal["day", "month"]
    limit: Money
    soft_limit_fraction: float
    windows: list[BudgetWindowUsage]
    windows_over_soft: int
    windows_over_limit: int
    peak: Money = Field(description="The largest spend of any window.")


class TierLatency(ReportModel):
    samples: int = Field(description="Requests with a recorded latency.")
    mean_ms: float | None
    p95_ms: int | None = Field(
        description="Upper bound (ms) of the histogram bucket where the cumulative count reaches "
        "95%; null without samples or when that bucket is unbounded (see p95_bucket)."
    )
    p95_bucket: str | None = Field(description='The bucket\'s bound: "<ms>" or "inf".')


class TierUsage(ReportModel):
    tier: str
    requests: int
    images: int
    images_percent: float
    cost: Money
    latency: TierLatency


class CategoryUsage(ReportModel):
    category: str
    requests: int


class ReasonCount(ReportModel):
    code: str
    count: int


class Rejections(ReportModel):
    budget: int
    rate: int
    upstream: int
    other: int
    total: int


class Unsettled(ReportModel):
    requests: int
    cost: Money = Field(description="Estimates charged for requests whose replica died mid-call.")


class Cancelled(ReportModel):
    requests: int
    cost: Money = Field(
        description="Estimates charged for requests cancelled mid-call (a shutdown): the tier "
        "may have billed them."
    )


class Disconnected(ReportModel):
    requests: int
    cost: Money = Field(
        description="Actual cost of requests answered after their client had left: the image "
        "was made, so they are charged."
    )


class RoutingOutcomes(ReportModel):
    downgrades: int = Field(description="Requests served below the tier their prompt asked for.")
    fallbacks: int = Field(description="Requests served by a fallback tier after a failure.")
    rejections: Rejections
    unsettled: Unsettled
    cancelled: Cancelled
    disconnected: Disconnected


class FlagshipShare(ReportModel):
    """How much of the team's routed traffic went to the flagship, beside its target."""

    tier: str | None = Field(description="The tier the flagship categories route to.")
    routed_requests: int = Field(
        description="Requests the router chose a tier for (not those that named a tier)."
    )
    flagship_requests: int = Field(description="Of those, the ones served by the flagship tier.")
    share: float | None = Field(description="flagship_requests / routed_requests; null if none.")
    target: float | None = Field(
        description="The policy's flagship_share_target for the team (or routing's), if any."
    )
    threshold: float = Field(description="The routing-score threshold in force now.")
    model_changed: int = Field(
        description="Requests whose tier the learned model changed (reason model:flagship_p)."
    )


class PassRate(ReportModel):
    name: str
    checked: int
    passed: int
    pass_rate: float | None = Field(description="passed / checked; null when none checked.")


class VerificationSummary(ReportModel):
    requests: int = Field(description="Requests whose image text was checked (OCR).")
    by_tier: list[PassRate] = Field(description="Checked images per tier, escalations included.")
    by_category: list[PassRate] = Field(description="First images checked, per prompt category.")
    escalations: int = Field(description="Requests retried on the escalation tier.")
    escalation_cost: Money = Field(description="What the second calls cost.")
    escalations_skipped: dict[str, int] = Field(
        description="Escalations due but not made: budget (no room for a second call), "
        "failed (the second tier failed), disabled (it cannot serve the request)."
    )
    savings_after_escalations: Money = Field(
        description="baseline - cost, the escalations' cost included (totals.savings)."
    )
    savings_before_escalations: Money = Field(description="What the savings would be without them.")


class DailyUsage(ReportModel):
    date: date
    requests: int
    images: int
    cost: Money
    baseline: Money
    tier_cost: dict[str, Money]
    batch_images: int = Field(description="Of the day's images, those made for batches.")
    batch_cost: Money = Field(description="Of the day's cost, that of batch items.")
    verified: int = Field(description="Requests whose image text was checked.")
    escalations: int = Field(description="Of those, the ones retried on the escalation tier.")


class TeamReport(ReportModel):
    """One team's usage, spend and routing over a period of UTC days."""

    schema_version: Literal[1] = 1
    team: str
    period: ReportPeriod
    totals: Totals
    budgets: list[BudgetUsage]
    tiers: list[TierUsage]
    categories: list[CategoryUsage]
    routing: RoutingOutcomes
    top_reasons: list[ReasonCount]
    flagship_share: FlagshipShare
    verification: VerificationSummary
    daily: list[DailyUsage]
