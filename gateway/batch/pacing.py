"""The limits a batch item is admitted under, beside its team's and key's own.

- ``batch`` rate limit: the team's ``batch.max_concurrent`` and ``batch.requests_per_minute``
  (by default half the team's), counted in the same reserve as the team's live limits, so
  batch items together never take more than that share and live requests keep the rest.
- ``batch:<id>`` window: the batch's ``metadata.max_spend_usd``, held and spent like a
  budget window of its own, so the batch stops admitting items once it is spent.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from gateway.budget.store import RateLimit, Window
from gateway.policy.schema import Policy

BATCH_SCOPE = "batch"


def batch_rate_limit(policy: Policy, team: str) -> RateLimit:
    limits = policy.teams[team]
    concurrent, rpm = limits.batch.resolved(limits.rate_limits)
    return RateLimit(BATCH_SCOPE, rpm, concurrent)


def batch_spend_window(batch: Mapping[str, str]) -> Window | None:
    cap = batch.get("max_spend_micros")
    if not cap:
        return None
    ttl = max(60, int(batch["expires_at"]) - int(time.time()) + 86_400)
    return Window(f"batch:{batch['id']}", "batch", "all", int(cap), ttl)


def spend_window_name(batch_id: str) -> str:
    """How a refusal names the batch's window (``BudgetExceeded.blocking``)."""
    return f"budget:batch:batch:{batch_id}"
