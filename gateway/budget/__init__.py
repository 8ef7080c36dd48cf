"""Budget store: atomic cost and rate arithmetic shared by every gateway replica.

`open_store(url)` picks the backend by URL, like the `limits` library:

- `memory://` — this process only (dev, unit tests)
- `redis://host:port/db`, `rediss://…`, `unix://…` — one Redis server
- `redis+cluster://host:port`, `rediss+cluster://…` — Redis Cluster

The contract is in `gateway.budget.store`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from gateway.budget.store import (
    Aggregates,
    BudgetSnapshot,
    BudgetStore,
    DuplicateReservation,
    LatencyStats,
    RateLimit,
    RateState,
    ReapedReservation,
    ReserveRequest,
    ReserveResult,
    SettleResult,
    StoreError,
    StoreOptions,
    StoreUnavailable,
    Window,
    WindowState,
)

__all__ = [
    "Aggregates",
    "BudgetSnapshot",
    "BudgetStore",
    "DuplicateReservation",
    "LatencyStats",
    "RateLimit",
    "RateState",
    "ReapedReservation",
    "ReserveRequest",
    "ReserveResult",
    "SettleResult",
    "StoreError",
    "StoreOptions",
    "StoreUnavailable",
    "Window",
    "WindowState",
    "open_store",
]

_REDIS_SCHEMES = frozenset({"redis", "rediss", "unix", "redis+cluster", "rediss+cluster"})


def open_store(
    url: str, *, key_prefix: str = "tg", options: StoreOptions | None = None
) -> BudgetStore:
    """Budget store for `url`. Does no I/O: connections open on first use."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        from gateway.budget.memory import MemoryBudgetStore

        return MemoryBudgetStore(key_prefix=key_prefix, options=options)
    if scheme in _REDIS_SCHEMES:
        from gateway.budget.redis import RedisBudgetStore

        return RedisBudgetStore.from_url(url, key_prefix=key_prefix, options=options)
    raise ValueError(f"unsupported budget store URL scheme {scheme!r} (memory://, redis://, ...)")
