"""Response headers that tell a caller where its budget and rate limits stand."""

from __future__ import annotations

from gateway.budget.store import RateState, WindowState


def budget_headers(states: tuple[WindowState, ...], adjust_micros: int = 0) -> dict[str, str]:
    """``x-tiergate-budget-remaining-usd-<period>``: the tightest remaining amount per period."""
    tightest: dict[str, int] = {}
    for state in states:
        remaining = max(0, state.remaining_micros - adjust_micros)
        tightest[state.period] = min(remaining, tightest.get(state.period, remaining))
    return {
        f"x-tiergate-budget-remaining-usd-{period}": f"{micros / 1_000_000:.6f}"
        for period, micros in tightest.items()
    }


def rate_headers(states: tuple[RateState, ...], now_ms: int) -> dict[str, str]:
    """OpenAI-style ``x-ratelimit-*-requests`` for the tightest requests-per-minute limit."""
    limited = [s for s in states if s.requests_per_minute is not None]
    if not limited:
        return {}
    tightest = min(limited, key=lambda s: s.requests_remaining or 0)
    reset_s = max(0, (tightest.reset_ms or now_ms) - now_ms) / 1000
    return {
        "x-ratelimit-limit-requests": str(tightest.requests_per_minute),
        "x-ratelimit-remaining-requests": str(tightest.requests_remaining),
        "x-ratelimit-reset-requests": f"{reset_s:.3f}s",
    }
