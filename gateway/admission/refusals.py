"""What a refused reserve tells the client: the 429 it becomes, with its headers."""

from __future__ import annotations

import math

from gateway.admission.headers import budget_headers, rate_headers
from gateway.budget.store import ReserveResult
from gateway.errors import BudgetExceeded, GatewayError, RateLimited


def refusal(result: ReserveResult, estimate_micros: int, now_ms: int) -> GatewayError:
    """429 ``budget_exceeded`` (naming the refusing window, and whether only spend, not
    holds, stands in the way) or 429 ``rate_limit_exceeded`` with ``Retry-After``."""
    headers = {
        **budget_headers(result.window_states),
        **rate_headers(result.rate_states, now_ms),
    }
    if result.reason == "budget_exceeded":
        period = (result.blocking or "budget:day:team").split(":")[1]
        error = BudgetExceeded(
            f"Budget exceeded for this {period} ({result.blocking}); "
            "the request was not sent to any model.",
            headers=headers,
        )
        error.blocking = result.blocking
        window = next(
            (w for w in result.window_states if f"budget:{w.period}:{w.scope}" == result.blocking),
            None,
        )
        error.shortfall_is_spent = (
            window is not None and window.spent_micros + estimate_micros > window.limit_micros
        )
        return error
    blocked = next(
        (
            s
            for s in result.rate_states
            if result.blocking and result.blocking.split(":", 1)[1] == s.scope
        ),
        None,
    )
    retry_after_ms = (blocked.retry_after_ms if blocked else None) or 1000
    if result.reason == "concurrency_limited":
        retry_after_ms = 1000
    headers["retry-after"] = str(max(1, math.ceil(retry_after_ms / 1000)))
    what = (
        "concurrent requests" if result.reason == "concurrency_limited" else "requests per minute"
    )
    return RateLimited(f"Rate limit reached for {what} ({result.blocking}).", headers=headers)
