"""Turn raw counter readings into the contract's state objects (shared by both backends)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from gateway.budget.store import (
    RPM_WINDOW_MS,
    LatencyStats,
    RateLimit,
    RateState,
    ReserveReason,
    ReserveRequest,
    ReserveResult,
    Window,
    WindowState,
)


def window_state(window: Window, spent_micros: int, reserved_micros: int) -> WindowState:
    remaining = max(0, window.limit_micros - spent_micros - reserved_micros)
    return WindowState(
        scope=window.scope,
        period=window.period,
        bucket=window.bucket,
        limit_micros=window.limit_micros,
        spent_micros=spent_micros,
        reserved_micros=reserved_micros,
        remaining_micros=remaining,
    )


def rate_state(limit: RateLimit, requests_in_minute: int, in_flight: int, now_ms: int) -> RateState:
    rpm = limit.requests_per_minute
    if rpm is None:
        remaining = reset_ms = retry_after_ms = None
    else:
        remaining = max(0, rpm - requests_in_minute)
        reset_ms = (now_ms // RPM_WINDOW_MS + 1) * RPM_WINDOW_MS
        retry_after_ms = 0 if remaining > 0 else reset_ms - now_ms
    return RateState(
        scope=limit.scope,
        requests_per_minute=rpm,
        requests_remaining=remaining,
        reset_ms=reset_ms,
        retry_after_ms=retry_after_ms,
        max_concurrent=limit.max_concurrent,
        in_flight=in_flight,
    )


def reserve_result(
    req: ReserveRequest,
    reason: ReserveReason,
    blocking_index: int,
    windows: Sequence[tuple[int, int]],
    rates: Sequence[tuple[int, int]],
) -> ReserveResult:
    """Build the result from (spent, reserved) per window and (rpm count, in flight) per rate.

    `blocking_index` is 0-based into `req.windows` for "budget_exceeded" and into
    `req.rate_limits` for the rate reasons; ignored when admitted.
    """
    blocking: str | None = None
    if reason == "budget_exceeded":
        w = req.windows[blocking_index]
        blocking = f"budget:{w.period}:{w.scope}"
    elif reason == "rate_limited":
        blocking = f"rpm:{req.rate_limits[blocking_index].scope}"
    elif reason == "concurrency_limited":
        blocking = f"concurrency:{req.rate_limits[blocking_index].scope}"
    return ReserveResult(
        admitted=reason == "ok",
        reason=reason,
        window_states=tuple(
            window_state(w, spent, held)
            for w, (spent, held) in zip(req.windows, windows, strict=True)
        ),
        rate_states=tuple(
            rate_state(r, count, flying, req.now_ms)
            for r, (count, flying) in zip(req.rate_limits, rates, strict=True)
        ),
        blocking=blocking,
    )


def nearest_rank(sorted_values: Sequence[float], percentile: float) -> float:
    """Nearest-rank percentile of a non-empty ascending sequence."""
    rank = max(1, math.ceil(percentile / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_stats(tier: str, samples: Sequence[float]) -> LatencyStats:
    if not samples:
        return LatencyStats(tier=tier, count=0, p50_ms=None, p95_ms=None)
    ordered = sorted(samples)
    return LatencyStats(
        tier=tier,
        count=len(ordered),
        p50_ms=nearest_rank(ordered, 50),
        p95_ms=nearest_rank(ordered, 95),
    )
