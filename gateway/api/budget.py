"""``GET /v1/budget``: the calling team's windows, rate limits and tier latencies."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel

from gateway.api.state import get_state
from gateway.batch.pacing import batch_rate_limit
from gateway.budget.store import StoreError
from gateway.errors import PermissionDenied, StoreUnavailable

router = APIRouter()


class WindowReport(BaseModel):
    scope: str
    period: str
    bucket: str
    limit_usd: float
    spent_usd: float
    reserved_usd: float
    remaining_usd: float
    limit_micros: int
    spent_micros: int
    reserved_micros: int
    remaining_micros: int
    state: Literal["ok", "soft", "hard"]


class RateReport(BaseModel):
    scope: str
    requests_per_minute: int | None
    requests_remaining: int | None
    max_concurrent: int | None
    in_flight: int


class TierLatency(BaseModel):
    count: int
    p50_ms: float | None
    p95_ms: float | None


class BudgetReport(BaseModel):
    team: str
    key_id: str
    windows: list[WindowReport]
    rate_limits: list[RateReport]
    latency: dict[str, TierLatency]


@router.get("/v1/budget", response_model=BudgetReport)
async def get_budget(request: Request) -> BudgetReport:
    state = get_state(request)
    principal = state.keyring.authenticate(request.headers.get("authorization"))
    if principal.team is None:
        raise PermissionDenied("Use a team key: /v1/budget reports the calling team's budget.")
    admission = state.service.admission
    now = state.service.clock()
    # The team's batch share too: what its batches hold of its concurrency and rate.
    snapshot = await admission.snapshot(
        principal, now, (batch_rate_limit(state.policy, principal.team),)
    )
    try:
        stats = await state.store.latency_stats(
            list(state.policy.tiers),
            state.policy.routing.latency_window_seconds,
            int(now.timestamp() * 1000),
        )
    except StoreError as exc:
        raise StoreUnavailable("The budget store is unavailable; try again shortly.") from exc
    windows = []
    for w in snapshot.window_states:
        used = w.spent_micros + w.reserved_micros
        soft = admission.soft_fraction(principal, w) * w.limit_micros
        status: Literal["ok", "soft", "hard"] = (
            "hard" if used >= w.limit_micros else "soft" if used >= soft else "ok"
        )
        windows.append(
            WindowReport(
                scope=w.scope,
                period=w.period,
                bucket=w.bucket,
                limit_usd=w.limit_micros / 1e6,
                spent_usd=w.spent_micros / 1e6,
                reserved_usd=w.reserved_micros / 1e6,
                remaining_usd=w.remaining_micros / 1e6,
                limit_micros=w.limit_micros,
                spent_micros=w.spent_micros,
                reserved_micros=w.reserved_micros,
                remaining_micros=w.remaining_micros,
                state=status,
            )
        )
    return BudgetReport(
        team=principal.team,
        key_id=principal.key_id,
        windows=windows,
        rate_limits=[
            RateReport(
                scope=r.scope,
                requests_per_minute=r.requests_per_minute,
                requests_remaining=r.requests_remaining,
                max_concurrent=r.max_concurrent,
                in_flight=r.in_flight,
            )
            for r in snapshot.rate_states
        ],
        latency={
            tier: TierLatency(count=s.count, p50_ms=s.p50_ms, p95_ms=s.p95_ms)
            for tier, s in stats.items()
        },
    )
