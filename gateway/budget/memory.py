"""In-process backend of the budget store (`memory://`): dev and unit tests, one process only.

Every method body runs without awaiting, so under asyncio each call is atomic just like
one Lua call in Redis. Expiry follows the callers' `now_ms` rather than a server clock;
aggregate buckets, whose writes carry no `now_ms`, are kept until `close` (their TTL is a
Redis concern). Ledger stream ids are derived from `now_ms`.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gateway.budget import readings
from gateway.budget.keys import rpm_minute, window_field
from gateway.budget.store import (
    Aggregates,
    BudgetSnapshot,
    DuplicateReservation,
    LatencyStats,
    RateLimit,
    ReapedReservation,
    ReserveReason,
    ReserveRequest,
    ReserveResult,
    SettleResult,
    StoreOptions,
    Window,
    check_charge,
    check_ledger,
    check_team,
    check_tier,
    parse_stream_id,
    reap_ledger_entry,
)


@dataclass
class _Reservation:
    estimate_micros: int
    deadline_ms: int
    windows: list[tuple[str, int]]  # (field, ttl_ms)
    scopes: list[str]
    meta: dict[str, str]


@dataclass
class _Tombstone:
    state: str  # settled | released | reaped | corrected | charged
    estimate_micros: int
    expires_at_ms: int
    windows: list[tuple[str, int]] = field(default_factory=list)
    ledger_id: str | None = None


@dataclass
class _Team:
    spent: dict[str, int] = field(default_factory=dict)
    reserved: dict[str, int] = field(default_factory=dict)
    expiry: dict[str, int] = field(default_factory=dict)  # field -> expires at (ms)
    inflight: dict[str, int] = field(default_factory=dict)
    rpm: dict[tuple[int, str], int] = field(default_factory=dict)  # (minute, scope) -> count
    reservations: dict[str, _Reservation] = field(default_factory=dict)
    tombstones: dict[str, _Tombstone] = field(default_factory=dict)
    tombstone_expiry: list[tuple[int, str]] = field(default_factory=list)  # heap
    events: deque[tuple[str, dict[str, str]]] = field(default_factory=deque)
    aggregates: dict[str, dict[str, int]] = field(default_factory=dict)  # bucket -> fields


def _incr_or_drop(counters: dict[str, int], key: str, delta: int) -> int:
    value = counters.get(key, 0) + delta
    if value <= 0:
        counters.pop(key, None)
        return 0
    counters[key] = value
    return value


class MemoryBudgetStore:
    """`BudgetStore` kept in this process; same semantics as the Redis backend."""

    def __init__(self, *, key_prefix: str = "tg", options: StoreOptions | None = None) -> None:
        self._key_prefix = key_prefix  # accepted for symmetry; nothing is shared
        self._options = options or StoreOptions()
        self._teams: dict[str, _Team] = {}
        self._latency: dict[str, list[tuple[int, int, float]]] = {}  # (now_ms, seq, latency)
        self._sequence = itertools.count()
        self._last_event_id = (0, 0)

    def _team(self, team: str) -> _Team:
        check_team(team)
        return self._teams.setdefault(team, _Team())

    # -- shared steps (mirror lib_v1.lua) ----------------------------------------------------

    def _keep_until(self, t: _Team, name: str, expires_at_ms: int) -> None:
        t.expiry[name] = max(t.expiry.get(name, expires_at_ms), expires_at_ms)

    def _drop_expired(self, t: _Team, now_ms: int) -> None:
        batch = self._options.expired_fields_per_call
        due = sorted((at, name) for name, at in t.expiry.items() if at <= now_ms)[:batch]
        for _, name in due:
            t.spent.pop(name, None)
            t.reserved.pop(name, None)
            del t.expiry[name]
        while t.tombstone_expiry and t.tombstone_expiry[0][0] <= now_ms:
            _, reservation_id = heapq.heappop(t.tombstone_expiry)
            stone = t.tombstones.get(reservation_id)
            if stone is not None and stone.expires_at_ms <= now_ms:
                del t.tombstones[reservation_id]
        for minute, scope in [k for k in t.rpm if k[0] < rpm_minute(now_ms) - 1]:
            del t.rpm[(minute, scope)]

    def _tombstone(self, t: _Team, reservation_id: str, now_ms: int) -> _Tombstone | None:
        stone = t.tombstones.get(reservation_id)
        if stone is not None and stone.expires_at_ms <= now_ms:
            del t.tombstones[reservation_id]
            return None
        return stone

    def _bury(self, t: _Team, reservation_id: str, stone: _Tombstone) -> None:
        t.tombstones[reservation_id] = stone
        heapq.heappush(t.tombstone_expiry, (stone.expires_at_ms, reservation_id))

    def _charge(self, t: _Team, windows: list[tuple[str, int]], delta: int, now_ms: int) -> None:
        if delta == 0:
            return
        for name, ttl_ms in windows:
            _incr_or_drop(t.spent, name, delta)
            self._keep_until(t, name, now_ms + ttl_ms)

    def _finish(
        self, t: _Team, reservation_id: str, r: _Reservation, charge: int, now_ms: int
    ) -> None:
        if r.estimate_micros > 0:
            for name, _ in r.windows:
                _incr_or_drop(t.reserved, name, -r.estimate_micros)
        for scope in r.scopes:
            _incr_or_drop(t.inflight, scope, -1)
        self._charge(t, r.windows, charge, now_ms)
        del t.reservations[reservation_id]

    # -- reserve / settle / release / reap -------------------------------------------------

    async def reserve(self, req: ReserveRequest) -> ReserveResult:
        t = self._team(req.team)
        if self._tombstone(t, req.reservation_id, req.now_ms) is not None:
            raise DuplicateReservation(
                f"reservation {req.reservation_id!r} of team {req.team!r} is already finished"
            )
        replay = req.reservation_id in t.reservations
        if not replay:
            self._drop_expired(t, req.now_ms)
        names = [window_field(w) for w in req.windows]
        minute = rpm_minute(req.now_ms)
        spent = [t.spent.get(n, 0) for n in names]
        held = [t.reserved.get(n, 0) for n in names]
        counts = [t.rpm.get((minute, r.scope), 0) for r in req.rate_limits]
        flying = [t.inflight.get(r.scope, 0) for r in req.rate_limits]

        def result(reason: ReserveReason, blocking: int = -1) -> ReserveResult:
            return readings.reserve_result(
                req,
                reason,
                blocking,
                list(zip(spent, held, strict=True)),
                list(zip(counts, flying, strict=True)),
            )

        if replay:
            return result("ok")
        estimate = req.estimate_micros
        for i, w in enumerate(req.windows):
            if spent[i] + held[i] + estimate > w.limit_micros:
                return result("budget_exceeded", i)
        for j, r in enumerate(req.rate_limits):
            if r.requests_per_minute is not None and counts[j] + 1 > r.requests_per_minute:
                return result("rate_limited", j)
        for j, r in enumerate(req.rate_limits):
            if r.max_concurrent is not None and flying[j] + 1 > r.max_concurrent:
                return result("concurrency_limited", j)

        hold_until = max(req.now_ms, req.deadline_ms)
        for i, (name, w) in enumerate(zip(names, req.windows, strict=True)):
            if estimate > 0:
                held[i] = t.reserved[name] = t.reserved.get(name, 0) + estimate
            self._keep_until(t, name, hold_until + w.ttl_seconds * 1000)
        for j, r in enumerate(req.rate_limits):
            if r.requests_per_minute is not None:
                counts[j] = t.rpm[(minute, r.scope)] = counts[j] + 1
            flying[j] = t.inflight[r.scope] = flying[j] + 1
        t.reservations[req.reservation_id] = _Reservation(
            estimate_micros=estimate,
            deadline_ms=req.deadline_ms,
            windows=[(n, w.ttl_seconds * 1000) for n, w in zip(names, req.windows, strict=True)],
            scopes=[r.scope for r in req.rate_limits],
            meta=dict(req.meta),
        )
        return result("ok")

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
        if actual_micros < 0:
            raise ValueError("actual_micros must be >= 0")
        check_ledger(ledger)
        if latency is not None:
            self._check_latency(*latency)
        t = self._team(team)
        result = self._settle(t, reservation_id, actual_micros, now_ms, ledger)
        if aggregates is not None and result.outcome in ("settled", "corrected_after_reap"):
            self._add_aggregates(t, aggregates)
        if latency is not None:
            self._record(latency[0], latency[1], now_ms)
        return result

    def _settle(
        self,
        t: _Team,
        reservation_id: str,
        actual: int,
        now_ms: int,
        ledger: Mapping[str, str] | None,
    ) -> SettleResult:
        def write_ledger(outcome: str, estimate: int) -> str | None:
            if ledger is None:
                return None
            entry = {
                "reservation_id": reservation_id,
                "outcome": outcome,
                "estimate_micros": str(estimate),
                "actual_micros": str(actual),
                **ledger,
            }
            return self._append_event(t, entry, now_ms)

        r = t.reservations.get(reservation_id)
        if r is not None:
            self._finish(t, reservation_id, r, actual, now_ms)
            ledger_id = write_ledger("settled", r.estimate_micros)
            ttl_ms = self._options.settled_marker_ttl_seconds * 1000
            stone = _Tombstone("settled", r.estimate_micros, now_ms + ttl_ms, ledger_id=ledger_id)
            self._bury(t, reservation_id, stone)
            return SettleResult(
                "settled", reservation_id, r.estimate_micros, actual, actual, ledger_id
            )
        stone_or_none = self._tombstone(t, reservation_id, now_ms)
        if stone_or_none is None:
            return SettleResult("unknown_reservation", reservation_id, None, actual, 0, None)
        stone = stone_or_none
        if stone.state == "reaped":
            delta = actual - stone.estimate_micros
            self._charge(t, stone.windows, delta, now_ms)
            stone.state = "corrected"
            stone.ledger_id = write_ledger("corrected_after_reap", stone.estimate_micros)
            return SettleResult(
                "corrected_after_reap",
                reservation_id,
                stone.estimate_micros,
                actual,
                delta,
                stone.ledger_id,
            )
        if stone.state == "released":
            return SettleResult(
                "already_released", reservation_id, stone.estimate_micros, actual, 0, None
            )
        return SettleResult(
            "already_settled", reservation_id, stone.estimate_micros, actual, 0, stone.ledger_id
        )

    def _append_event(self, t: _Team, entry: dict[str, str], now_ms: int) -> str:
        ms, seq = self._last_event_id
        self._last_event_id = (now_ms, 0) if now_ms > ms else (ms, seq + 1)
        event_id = "{}-{}".format(*self._last_event_id)
        t.events.append((event_id, entry))
        while len(t.events) > self._options.ledger_maxlen:
            t.events.popleft()
        return event_id

    async def release(
        self,
        team: str,
        reservation_id: str,
        now_ms: int,
        *,
        ledger: Mapping[str, str] | None = None,
        aggregates: Aggregates | None = None,
    ) -> bool:
        check_ledger(ledger)
        t = self._team(team)
        r = t.reservations.get(reservation_id)
        if r is not None:
            self._finish(t, reservation_id, r, 0, now_ms)
            ttl_ms = self._options.settled_marker_ttl_seconds * 1000
            self._bury(
                t, reservation_id, _Tombstone("released", r.estimate_micros, now_ms + ttl_ms)
            )
            return True
        stone = self._tombstone(t, reservation_id, now_ms)
        if stone is not None and stone.state == "reaped":
            self._charge(t, stone.windows, -stone.estimate_micros, now_ms)
            stone.state = "corrected"
            entry = {
                "reservation_id": reservation_id,
                "outcome": "corrected_after_reap",
                "estimate_micros": str(stone.estimate_micros),
                "actual_micros": "0",
                **(ledger or {}),
            }
            stone.ledger_id = self._append_event(t, entry, now_ms)
            if aggregates is not None:
                self._add_aggregates(t, aggregates)
            return True
        return False

    async def reap(self, team: str, now_ms: int, limit: int = 100) -> list[ReapedReservation]:
        t = self._team(team)
        due = sorted(
            (r.deadline_ms, reservation_id)
            for reservation_id, r in t.reservations.items()
            if r.deadline_ms <= now_ms
        )[: max(limit, 0)]
        reaped = []
        ttl_ms = self._options.reap_tombstone_ttl_seconds * 1000
        for _, reservation_id in due:
            r = t.reservations[reservation_id]
            self._finish(t, reservation_id, r, r.estimate_micros, now_ms)
            self._bury(
                t,
                reservation_id,
                _Tombstone("reaped", r.estimate_micros, now_ms + ttl_ms, windows=r.windows),
            )
            entry = reap_ledger_entry(reservation_id, r.estimate_micros, r.meta)
            reaped.append(
                ReapedReservation(
                    team=team,
                    reservation_id=reservation_id,
                    estimate_micros=r.estimate_micros,
                    deadline_ms=r.deadline_ms,
                    meta=dict(r.meta),
                    ledger_id=self._append_event(t, entry, now_ms),
                )
            )
        return reaped

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
        check_charge(charge_id, windows, amount_micros)
        check_ledger(ledger)
        t = self._team(team)
        if self._tombstone(t, charge_id, now_ms) is not None:
            return False
        self._drop_expired(t, now_ms)
        names = [(window_field(w), w.ttl_seconds * 1000) for w in windows]
        self._charge(t, names, amount_micros, now_ms)
        ledger_id = None
        if ledger is not None:
            entry = {
                "reservation_id": charge_id,
                "outcome": "charged",
                "estimate_micros": str(amount_micros),
                "actual_micros": str(amount_micros),
                **ledger,
            }
            ledger_id = self._append_event(t, entry, now_ms)
        if aggregates is not None:
            self._add_aggregates(t, aggregates)
        ttl_ms = self._options.reap_tombstone_ttl_seconds * 1000
        stone = _Tombstone("charged", amount_micros, now_ms + ttl_ms, ledger_id=ledger_id)
        self._bury(t, charge_id, stone)
        return True

    @staticmethod
    def _add_aggregates(t: _Team, aggregates: Aggregates) -> None:
        if not aggregates.increments:
            return
        fields = t.aggregates.setdefault(aggregates.bucket, {})
        for name, delta in aggregates.increments.items():
            fields[name] = fields.get(name, 0) + delta

    async def add_aggregates(self, team: str, aggregates: Aggregates) -> None:
        self._add_aggregates(self._team(team), aggregates)

    # -- reads --------------------------------------------------------------------------------

    async def snapshot(
        self,
        team: str,
        windows: Sequence[Window],
        rate_limits: Sequence[RateLimit],
        now_ms: int,
    ) -> BudgetSnapshot:
        t = self._team(team)
        minute = rpm_minute(now_ms)
        window_states = []
        for w in windows:
            name = window_field(w)
            spent, held = t.spent.get(name, 0), t.reserved.get(name, 0)
            window_states.append(readings.window_state(w, spent, held))
        rate_states = [
            readings.rate_state(
                r, t.rpm.get((minute, r.scope), 0), t.inflight.get(r.scope, 0), now_ms
            )
            for r in rate_limits
        ]
        return BudgetSnapshot(team, now_ms, tuple(window_states), tuple(rate_states))

    async def ledger_events(self, team: str, count: int = 100) -> list[tuple[str, dict[str, str]]]:
        """The team's oldest `count` ledger entries as (stream id, fields)."""
        return list(itertools.islice(self._team(team).events, count))

    async def ledger_range(
        self,
        team: str,
        start_ms: int,
        end_ms: int,
        count: int = 1000,
        after_id: str | None = None,
    ) -> list[tuple[str, dict[str, str]]]:
        t = self._team(team)
        after = (-1, -1) if after_id is None else parse_stream_id(after_id)
        if count <= 0:
            return []
        page: list[tuple[str, dict[str, str]]] = []
        for event_id, entry in t.events:
            at = parse_stream_id(event_id)
            if at[0] >= end_ms:
                break
            if at[0] >= start_ms and at > after:
                page.append((event_id, dict(entry)))
                if len(page) == count:
                    break
        return page

    async def aggregates(self, team: str, buckets: Sequence[str]) -> dict[str, dict[str, int]]:
        t = self._team(team)
        return {b: dict(t.aggregates[b]) for b in buckets if t.aggregates.get(b)}

    # -- latency ------------------------------------------------------------------------------

    @staticmethod
    def _check_latency(tier: str, latency_ms: float) -> None:
        check_tier(tier)
        if not math.isfinite(latency_ms) or latency_ms < 0:
            raise ValueError(f"latency_ms must be finite and >= 0, got {latency_ms}")

    def _record(self, tier: str, latency_ms: float, now_ms: int) -> None:
        samples = self._latency.setdefault(tier, [])
        bisect.insort(samples, (now_ms, next(self._sequence), float(latency_ms)))
        oldest_kept = now_ms - self._options.latency_max_age_seconds * 1000
        cut = bisect.bisect_left(samples, (oldest_kept,))
        cut = max(cut, len(samples) - self._options.latency_max_samples)
        del samples[:cut]

    async def record_latency(self, tier: str, latency_ms: float, now_ms: int) -> None:
        self._check_latency(tier, latency_ms)
        self._record(tier, latency_ms, now_ms)

    async def latency_stats(
        self, tiers: Sequence[str], window_seconds: int, now_ms: int
    ) -> Mapping[str, LatencyStats]:
        since = now_ms - window_seconds * 1000
        stats = {}
        for tier in tiers:
            check_tier(tier)
            values = [v for at, _, v in self._latency.get(tier, []) if at >= since]
            stats[tier] = readings.latency_stats(tier, values)
        return stats

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._teams.clear()
        self._latency.clear()
