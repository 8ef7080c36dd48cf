"""The budget store contract: value types, errors and the `BudgetStore` protocol.

The store does atomic arithmetic on integer micro-dollar counters and request counters;
budget *policy* (which windows apply, what the limits are, which bucket "now" falls in)
is decided above it and passed in. The store never reads a clock: every call carries
`now_ms`.

Lifecycle of one request::

    reserve(estimate) ──admitted──> settle(actual)      spent += actual
                          │      └─> release()           nothing spent
                          └─deadline passed─> reap()     spent += estimate, tombstone kept,
                                               │              ledger entry outcome=reaped
                                               └─> settle(actual) later: spent += actual - estimate

    charge(charge_id, amount)                    spent += amount, no limit check (journal replay)

Accounting beside the counters: every mutation that changes spent can write one entry to the
team's capped ledger stream and add to the team's daily aggregate hashes in the same atomic
step; `add_aggregates` adds to them alone (reaped reservations, rejections).

Error tree::

    StoreError
     ├── StoreUnavailable       backend unreachable / timed out / read-only (map to 503)
     └── DuplicateReservation   reservation_id already finished (settled, released, reaped)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, Protocol

#: Largest amount a counter may hold: Lua numbers are doubles, exact up to 2**53.
MAX_MICROS = 2**53 - 1

#: Length of the request-per-minute window (fixed windows aligned on the epoch minute).
RPM_WINDOW_MS = 60_000


class StoreError(Exception):
    """Base class of every error the budget store raises."""


class StoreUnavailable(StoreError):
    """The backing store cannot be reached, timed out or refuses writes."""


class DuplicateReservation(StoreError):
    """The reservation id was already settled, released or reaped (within the tombstone TTL)."""


def check_team(team: str) -> None:
    """Teams become a Redis hash tag, so they must be non-empty and brace-free."""
    if not team or "{" in team or "}" in team:
        raise ValueError(f"team must be non-empty and contain no braces: {team!r}")


def check_tier(tier: str) -> None:
    """Tiers become a Redis hash tag `{lat:<tier>}`, so they must be non-empty and brace-free."""
    if not tier or "{" in tier or "}" in tier:
        raise ValueError(f"tier must be non-empty and contain no braces: {tier!r}")


def _check_micros(name: str, value: int) -> None:
    if not 0 <= value <= MAX_MICROS:
        raise ValueError(f"{name} must be between 0 and {MAX_MICROS}, got {value}")


@dataclass(frozen=True, slots=True)
class Window:
    """One budget counter to check: `scope` spent in `period` bucket `bucket`.

    The caller computes `bucket` from "now" (e.g. "2026-11-27" for a day, "2026-11" for a
    month); the counters live `ttl_seconds` after their last write (window length + slack).
    """

    scope: str
    period: str
    bucket: str
    limit_micros: int
    ttl_seconds: int

    def __post_init__(self) -> None:
        if not self.scope:
            raise ValueError("window scope must be non-empty")
        for name, value in (("period", self.period), ("bucket", self.bucket)):
            if not value or ":" in value:
                raise ValueError(f"window {name} must be non-empty without ':': {value!r}")
        _check_micros("limit_micros", self.limit_micros)
        if self.ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive, got {self.ttl_seconds}")

    @property
    def identity(self) -> tuple[str, str, str]:
        return (self.scope, self.period, self.bucket)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Request-per-minute and concurrency limits of one scope; None means unlimited.

    In-flight requests are counted for every scope listed, limited or not.
    """

    scope: str
    requests_per_minute: int | None = None
    max_concurrent: int | None = None

    def __post_init__(self) -> None:
        if not self.scope:
            raise ValueError("rate limit scope must be non-empty")
        for name, value in (
            ("requests_per_minute", self.requests_per_minute),
            ("max_concurrent", self.max_concurrent),
        ):
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0 or None, got {value}")


@dataclass(frozen=True, slots=True)
class ReserveRequest:
    """Hold `estimate_micros` in every window and count the request against every rate limit."""

    team: str
    reservation_id: str
    estimate_micros: int
    windows: tuple[Window, ...]
    rate_limits: tuple[RateLimit, ...]
    now_ms: int
    deadline_ms: int
    """After this instant `reap` charges the estimate and frees the holds."""
    meta: Mapping[str, str] = field(default_factory=dict)
    """Small fields kept with the reservation and handed back by `reap`."""

    def __post_init__(self) -> None:
        check_team(self.team)
        if not self.reservation_id:
            raise ValueError("reservation_id must be non-empty")
        _check_micros("estimate_micros", self.estimate_micros)
        if self.deadline_ms < self.now_ms:
            raise ValueError("deadline_ms must not be before now_ms")
        identities = [w.identity for w in self.windows]
        if len(set(identities)) != len(identities):
            raise ValueError("windows must not repeat the same (scope, period, bucket)")
        scopes = [r.scope for r in self.rate_limits]
        if len(set(scopes)) != len(scopes):
            raise ValueError("rate_limits must not repeat a scope")
        for key, value in self.meta.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError("meta keys and values must be str")
        object.__setattr__(self, "windows", tuple(self.windows))
        object.__setattr__(self, "rate_limits", tuple(self.rate_limits))
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))


@dataclass(frozen=True, slots=True)
class WindowState:
    """One window's counters; `remaining_micros` = max(0, limit - spent - reserved)."""

    scope: str
    period: str
    bucket: str
    limit_micros: int
    spent_micros: int
    reserved_micros: int
    remaining_micros: int


@dataclass(frozen=True, slots=True)
class RateState:
    """One scope's request-per-minute and concurrency counters.

    The rpm fields are None when the scope has no rpm limit. `retry_after_ms` is the wait
    until the rpm limit admits one more request (0 when it would now).
    """

    scope: str
    requests_per_minute: int | None
    requests_remaining: int | None
    reset_ms: int | None
    retry_after_ms: int | None
    max_concurrent: int | None
    in_flight: int


ReserveReason = Literal["ok", "budget_exceeded", "rate_limited", "concurrency_limited"]


@dataclass(frozen=True, slots=True)
class ReserveResult:
    """Outcome of `reserve`.

    States are after the reservation when admitted, unchanged current values otherwise.
    Checks run budget windows first, then rpm, then concurrency; `blocking` names the first
    refusing limit as "budget:<period>:<scope>", "rpm:<scope>" or "concurrency:<scope>".
    """

    admitted: bool
    reason: ReserveReason
    window_states: tuple[WindowState, ...]
    rate_states: tuple[RateState, ...]
    blocking: str | None


SettleOutcome = Literal[
    "settled",  # reserved -> spent with the actual amount
    "corrected_after_reap",  # reap had charged the estimate; spent += actual - estimate
    "already_settled",  # nothing changed (second settle)
    "already_released",  # nothing changed: the reservation was released
    "unknown_reservation",  # nothing changed: never reserved, or its tombstone expired
]


@dataclass(frozen=True, slots=True)
class SettleResult:
    outcome: SettleOutcome
    reservation_id: str
    estimate_micros: int | None
    actual_micros: int
    spent_delta_micros: int
    """How much this call changed `spent` in each of the reservation's windows."""
    ledger_id: str | None
    """Stream id of the ledger entry (written only when spent changed and a ledger was given;
    on `already_settled` the id written by the first settle)."""


@dataclass(frozen=True, slots=True)
class ReapedReservation:
    team: str
    reservation_id: str
    estimate_micros: int
    deadline_ms: int
    meta: Mapping[str, str]
    ledger_id: str | None = None
    """Stream id of the ledger entry the reap wrote (outcome=reaped)."""


@dataclass(frozen=True, slots=True)
class Aggregates:
    """Integer increments of one team's aggregate hash for one bucket (e.g. a day).

    Field names are opaque to the store (e.g. "tier:efficient:cost_micros"); values may be
    negative. Each write sets the hash to live `ttl_seconds` from then.
    """

    bucket: str
    increments: Mapping[str, int]
    ttl_seconds: int

    def __post_init__(self) -> None:
        if not self.bucket or "{" in self.bucket or "}" in self.bucket:
            raise ValueError(f"aggregate bucket must be non-empty and brace-free: {self.bucket!r}")
        for key, value in self.increments.items():
            if not isinstance(key, str) or not key:
                raise TypeError("aggregate field names must be non-empty str")
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"aggregate increment of {key!r} must be int, got {value!r}")
            if abs(value) > MAX_MICROS:
                raise ValueError(f"aggregate increment of {key!r} exceeds {MAX_MICROS}")
        if self.ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive, got {self.ttl_seconds}")
        object.__setattr__(self, "increments", MappingProxyType(dict(self.increments)))


@dataclass(frozen=True, slots=True)
class BudgetSnapshot:
    team: str
    now_ms: int
    window_states: tuple[WindowState, ...]
    rate_states: tuple[RateState, ...]


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """Nearest-rank percentiles of the samples in the window; None when there are none."""

    tier: str
    count: int
    p50_ms: float | None
    p95_ms: float | None


@dataclass(frozen=True, slots=True)
class StoreOptions:
    """Tuning shared by every backend."""

    settled_marker_ttl_seconds: int = 600
    """How long a settled/released id is remembered (idempotency of settle and release)."""
    reap_tombstone_ttl_seconds: int = 86_400
    """How long a reaped reservation waits for a late settle to correct its charge."""
    latency_max_samples: int = 1_000
    latency_max_age_seconds: int = 3_600
    ledger_maxlen: int = 100_000
    """Approximate cap of each team's ledger stream (XADD MAXLEN ~)."""
    expired_fields_per_call: int = 20
    """How many expired window counters one reserve deletes (lazy expiry)."""

    def __post_init__(self) -> None:
        for name in (
            "settled_marker_ttl_seconds",
            "reap_tombstone_ttl_seconds",
            "latency_max_samples",
            "latency_max_age_seconds",
            "ledger_maxlen",
            "expired_fields_per_call",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


#: Ledger fields the store writes itself; a caller's ledger mapping must not use them.
LEDGER_STORE_FIELDS = ("reservation_id", "outcome", "estimate_micros", "actual_micros")

#: Fields a reap's ledger entry adds to the reservation's meta (the cost is the estimate).
#: Together with LEDGER_STORE_FIELDS they win over meta keys of the same name.
REAP_LEDGER_FIELDS = ("status", "cost_micros", "usage")


def reap_ledger_entry(
    reservation_id: str, estimate_micros: int, meta: Mapping[str, str]
) -> dict[str, str]:
    """The ledger entry of a reaped reservation (the Lua reap builds the same fields)."""
    reserved = (*LEDGER_STORE_FIELDS, *REAP_LEDGER_FIELDS)
    return {
        "reservation_id": reservation_id,
        "outcome": "reaped",
        "estimate_micros": str(estimate_micros),
        "actual_micros": str(estimate_micros),
        **{k: v for k, v in meta.items() if k not in reserved},
        "status": "unsettled",
        "cost_micros": str(estimate_micros),
        "usage": "estimated",
    }


def parse_stream_id(stream_id: str) -> tuple[int, int]:
    """`"<ms>-<seq>"` as (ms, seq); ValueError if it is not a stream id."""
    ms, sep, seq = stream_id.partition("-")
    if not sep or not ms.isdigit() or not seq.isdigit():
        raise ValueError(f"not a stream id: {stream_id!r}")
    return int(ms), int(seq)


def check_charge(charge_id: str, windows: Sequence[Window], amount_micros: int) -> None:
    if not charge_id:
        raise ValueError("charge_id must be non-empty")
    _check_micros("amount_micros", amount_micros)
    identities = [w.identity for w in windows]
    if len(set(identities)) != len(identities):
        raise ValueError("windows must not repeat the same (scope, period, bucket)")


def check_ledger(ledger: Mapping[str, str] | None) -> None:
    if ledger is None:
        return
    for key, value in ledger.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError("ledger keys and values must be str")
        if key in LEDGER_STORE_FIELDS:
            raise ValueError(f"ledger field {key!r} is written by the store")


class BudgetStore(Protocol):
    """Atomic budget arithmetic shared by every gateway replica."""

    async def reserve(self, req: ReserveRequest) -> ReserveResult:
        """Check every limit and, only if all pass, hold the estimate (one atomic step).

        Refused requests change nothing and do not count against rpm. Reserving an id
        that is still outstanding changes nothing and reports it admitted (safe retry);
        an id already finished raises `DuplicateReservation`.
        """
        ...

    async def settle(
        self,
        team: str,
        reservation_id: str,
        actual_micros: int,
        now_ms: int,
        *,
        ledger: Mapping[str, str] | None = None,
        latency: tuple[str, float] | None = None,
        aggregates: Aggregates | None = None,
    ) -> SettleResult:
        """Move the reservation from reserved to spent with the actual amount (idempotent).

        `ledger` fields go into the team's capped event stream in the same atomic step;
        `aggregates` are added to the team's aggregate hash in that step too, only when
        spent changed (outcomes `settled`, `corrected_after_reap`; applied as given);
        `latency=(tier, latency_ms)` records a latency sample in the same round trip.
        """
        ...

    async def release(
        self,
        team: str,
        reservation_id: str,
        now_ms: int,
        *,
        ledger: Mapping[str, str] | None = None,
        aggregates: Aggregates | None = None,
    ) -> bool:
        """Undo the reservation, nothing spent. True if this call changed anything.

        Releasing a reaped reservation refunds the estimate the reaper charged (once) and, in
        the same atomic step, appends a ledger entry (``outcome=corrected_after_reap``,
        ``actual_micros=0``, plus ``ledger``) and adds ``aggregates`` (typically the
        negation of what the reaper counted). A plain release writes neither.
        """
        ...

    async def reap(self, team: str, now_ms: int, limit: int = 100) -> list[ReapedReservation]:
        """Charge the estimate of up to `limit` reservations past their deadline.

        Each reservation is reaped at most once, however many replicas reap concurrently.
        In the same atomic step each reaped reservation gets one ledger entry: its meta,
        `status=unsettled`, `cost_micros=<estimate>`, `usage=estimated` and the store's
        fields with `outcome=reaped`, `actual_micros=<estimate>` (store fields win over meta).
        """
        ...

    async def charge(
        self,
        team: str,
        charge_id: str,
        windows: Sequence[Window],
        amount_micros: int,
        now_ms: int,
        *,
        ledger: Mapping[str, str] | None = None,
        aggregates: Aggregates | None = None,
    ) -> bool:
        """Add spend that already happened (journal replay): no limit check, one atomic step.

        Adds `amount_micros` to spent in every window (counters kept alive `ttl_seconds` as by
        reserve), writes the ledger entry (when `ledger` is given; outcome=charged) and the
        aggregates. Idempotent by `charge_id`, which shares the reservation-id namespace: a
        tombstone kept `reap_tombstone_ttl_seconds` makes a repeat (or a charge of an id
        already settled, released or reaped) return False and change nothing.
        """
        ...

    async def add_aggregates(self, team: str, aggregates: Aggregates) -> None:
        """Add to the team's aggregate hash of `aggregates.bucket` (atomic per hash)."""
        ...

    async def aggregates(self, team: str, buckets: Sequence[str]) -> dict[str, dict[str, int]]:
        """Aggregate fields of each bucket that exists (one round trip); others omitted."""
        ...

    async def snapshot(
        self,
        team: str,
        windows: Sequence[Window],
        rate_limits: Sequence[RateLimit],
        now_ms: int,
    ) -> BudgetSnapshot:
        """Counters of the given windows and rate limits, read at one instant."""
        ...

    async def ledger_events(self, team: str, count: int = 100) -> list[tuple[str, dict[str, str]]]:
        """The team's oldest `count` ledger entries as (stream id, fields)."""
        ...

    async def ledger_range(
        self,
        team: str,
        start_ms: int,
        end_ms: int,
        count: int = 1000,
        after_id: str | None = None,
    ) -> list[tuple[str, dict[str, str]]]:
        """Up to `count` ledger entries with stream-id time in [start_ms, end_ms), oldest first.

        Pass the last id returned as `after_id` (exclusive) for the next page. Stream-id time
        is when the entry was written: the Redis server's clock, or `now_ms` in memory://.
        """
        ...

    async def record_latency(self, tier: str, latency_ms: float, now_ms: int) -> None: ...

    async def latency_stats(
        self, tiers: Sequence[str], window_seconds: int, now_ms: int
    ) -> Mapping[str, LatencyStats]: ...

    async def ping(self) -> bool:
        """True when the backend answers; never raises."""
        ...

    async def close(self) -> None: ...
