"""Budget policy above the store: which limits apply to a caller, and what a refusal means.

The store does atomic arithmetic; this module turns a team's policy and "now" into
the windows, rate limits and deadlines it checks, and turns its answers into
routing context, 429s and response headers. One round trip to reserve and one to
settle; the snapshot routing reads (soft limits) comes from the caller's last reserve
when that is younger than ``snapshot_max_age_seconds``, else it costs one more round
trip (plus one for latency stats, only when a latency budget applies). Hard limits
never depend on it: reserve checks them atomically.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import structlog

from gateway.admission.journal import SpendJournal, SpendRecord
from gateway.admission.localcap import LocalCap
from gateway.admission.refusals import refusal
from gateway.admission.unconfirmed import UnconfirmedReservations
from gateway.auth import Principal
from gateway.budget import store as budget_store
from gateway.budget.store import (
    Aggregates,
    BudgetSnapshot,
    BudgetStore,
    RateLimit,
    ReserveRequest,
    ReserveResult,
    Window,
    WindowState,
)
from gateway.errors import StoreUnavailable
from gateway.metrics import Metrics
from gateway.pipeline.routing import RouteContext
from gateway.policy.schema import Budget, Period, Policy
from gateway.usage import RETENTION_SECONDS, day_bucket, rejection_increments

log = structlog.get_logger("gateway.admission")

_TTL_SECONDS = {Period.day: 2 * 86_400, Period.month: 62 * 86_400}


def bucket_for(period: Period, now: datetime) -> str:
    """``YYYY-MM-DD`` or ``YYYY-MM`` of ``now`` (UTC); ``date.isoformat`` is ~6x strftime."""
    day = now.date().isoformat()
    return day if period is Period.day else day[:7]


@dataclass(frozen=True, slots=True)
class Ticket:
    """An admitted reservation: what settle or release needs, and the headers to send."""

    team: str
    reservation_id: str
    estimate_micros: int
    result: ReserveResult
    windows: tuple[Window, ...] = ()
    local: bool = False
    """Admitted by this replica alone while the store was down (fail_open)."""
    day: str = ""
    """UTC day of the reservation: its report counters land there, as its spend does in the
    windows it reserved against, even when it finishes (or is reaped) after midnight."""


def translate_store_errors(exc: budget_store.StoreError) -> StoreUnavailable:
    return StoreUnavailable("The budget store is unavailable; try again shortly.")


class Admission:
    def __init__(
        self,
        policy: Policy,
        store: BudgetStore,
        *,
        grace_seconds: float = 30.0,
        metrics: Metrics | None = None,
        journal: SpendJournal | None = None,
        snapshot_max_age_seconds: float = 0.25,
        retention_seconds: int = RETENTION_SECONDS,
    ) -> None:
        self.policy = policy
        self.store = store
        self.grace_seconds = grace_seconds
        self.snapshot_max_age_seconds = snapshot_max_age_seconds
        # (team, key id) -> (when, the states the caller's last reserve returned); per replica.
        self._recent: dict[tuple[str, str], tuple[float, BudgetSnapshot]] = {}
        self.unconfirmed = UnconfirmedReservations()
        self.metrics = metrics or Metrics()
        self.journal = journal
        self.retention_seconds = retention_seconds
        self.fail_open = policy.store_failure_mode == "fail_open"
        self.local_cap = LocalCap(
            policy.fail_open_max_concurrent, policy.fail_open_requests_per_minute
        )

    def with_policy(self, policy: Policy) -> Admission:
        """This admission under a reloaded policy, sharing what outlives one policy: the
        store, journal, metrics, the unconfirmed releases and the recent-snapshot cache (the
        local fail-open allowance too, unless the policy changed it)."""
        other = copy.copy(self)
        other.policy = policy
        other.fail_open = policy.store_failure_mode == "fail_open"
        if (policy.fail_open_max_concurrent, policy.fail_open_requests_per_minute) != (
            self.local_cap.max_concurrent,
            self.local_cap.requests_per_minute,
        ):
            other.local_cap = LocalCap(
                policy.fail_open_max_concurrent, policy.fail_open_requests_per_minute
            )
        return other

    def windows_for(self, principal: Principal, now: datetime) -> tuple[Window, ...]:
        assert principal.team is not None
        team = self.policy.teams[principal.team]
        scoped: list[tuple[str, Budget]] = [("team", b) for b in team.budgets]
        scoped += [(f"key:{principal.key_id}", b) for b in principal.key.budgets]
        return tuple(
            Window(
                scope=scope,
                period=budget.period.value,
                bucket=bucket_for(budget.period, now),
                limit_micros=budget.limit_micros,
                ttl_seconds=_TTL_SECONDS[budget.period],
            )
            for scope, budget in scoped
        )

    def rate_limits_for(self, principal: Principal) -> tuple[RateLimit, ...]:
        assert principal.team is not None
        team = self.policy.teams[principal.team]
        limits = [
            RateLimit("team", team.rate_limits.requests_per_minute, team.rate_limits.max_concurrent)
        ]
        key_limits = principal.key.rate_limits
        if key_limits.requests_per_minute is not None or key_limits.max_concurrent is not None:
            limits.append(
                RateLimit(
                    f"key:{principal.key_id}",
                    key_limits.requests_per_minute,
                    key_limits.max_concurrent,
                )
            )
        return tuple(limits)

    def soft_fraction(self, principal: Principal, state: WindowState) -> float:
        assert principal.team is not None
        budgets = (
            self.policy.teams[principal.team].budgets
            if state.scope == "team"
            else principal.key.budgets
        )
        return next((b.soft_limit_fraction for b in budgets if b.period.value == state.period), 0.8)

    async def snapshot(
        self,
        principal: Principal,
        now: datetime,
        extra_rate_limits: tuple[RateLimit, ...] = (),
    ) -> BudgetSnapshot:
        assert principal.team is not None
        try:
            return await self.store.snapshot(
                principal.team,
                self.windows_for(principal, now),
                self.rate_limits_for(principal) + extra_rate_limits,
                _ms(now),
            )
        except budget_store.StoreError as exc:
            raise translate_store_errors(exc) from exc

    def recent_snapshot(self, principal: Principal, now: datetime) -> BudgetSnapshot | None:
        """What the caller's last reserve returned, if younger than the max age."""
        assert principal.team is not None
        recent = self._recent.get((principal.team, principal.key_id))
        if recent is None:
            return None
        age = now.timestamp() - recent[0]
        return recent[1] if 0 <= age <= self.snapshot_max_age_seconds else None

    async def route_context(
        self, principal: Principal, now: datetime, max_latency_ms: int | None
    ) -> tuple[RouteContext, BudgetSnapshot | None]:
        try:
            snapshot = self.recent_snapshot(principal, now) or await self.snapshot(principal, now)
        except StoreUnavailable:
            if not self.fail_open:
                raise
            return RouteContext(max_latency_ms=max_latency_ms), None
        soft = any(
            w.spent_micros + w.reserved_micros >= self.soft_fraction(principal, w) * w.limit_micros
            for w in snapshot.window_states
        )
        assert principal.team is not None
        latency_budget = max_latency_ms or self.policy.teams[principal.team].latency_slo_ms
        p95: dict[str, float] = {}
        if latency_budget is not None:
            try:
                stats = await self.store.latency_stats(
                    list(self.policy.tiers), self.policy.routing.latency_window_seconds, _ms(now)
                )
            except budget_store.StoreError as exc:
                if not self.fail_open:
                    raise translate_store_errors(exc) from exc
                stats = {}
            p95 = {tier: s.p95_ms for tier, s in stats.items() if s.p95_ms is not None}
        return RouteContext(soft, p95, max_latency_ms), snapshot

    async def reserve(
        self,
        principal: Principal,
        reservation_id: str,
        estimate_micros: int,
        timeout_seconds: float,
        now: datetime,
        meta: Mapping[str, str],
        *,
        extra_windows: tuple[Window, ...] = (),
        extra_rate_limits: tuple[RateLimit, ...] = (),
        count_refusal: bool = True,
    ) -> Ticket:
        """Hold the estimate in every window of the caller (and ``extra_windows``, e.g. a
        batch's own spend cap) and count it against every rate limit (and
        ``extra_rate_limits``, e.g. the team's batch limits). A ``reservation_id`` already
        finished raises ``DuplicateReservation``; one still outstanding is taken over."""
        assert principal.team is not None
        now_ms = _ms(now)
        request = ReserveRequest(
            team=principal.team,
            reservation_id=reservation_id,
            estimate_micros=estimate_micros,
            windows=self.windows_for(principal, now) + extra_windows,
            rate_limits=self.rate_limits_for(principal) + extra_rate_limits,
            now_ms=now_ms,
            deadline_ms=now_ms + int((timeout_seconds + self.grace_seconds) * 1000),
            meta=meta,
        )
        try:
            result = await self.store.reserve(request)
        except budget_store.DuplicateReservation:
            raise
        except budget_store.StoreError as exc:
            if self.fail_open and self.local_cap.try_acquire(now_ms):
                log.warning("admitted_locally", team=principal.team, reservation_id=reservation_id)
                local = ReserveResult(True, "ok", (), (), None)
                return Ticket(
                    principal.team,
                    reservation_id,
                    estimate_micros,
                    local,
                    request.windows,
                    local=True,
                    day=day_bucket(now),
                )
            if isinstance(exc, budget_store.StoreUnavailable):
                self.unconfirmed.add(principal.team, reservation_id)
            raise translate_store_errors(exc) from exc
        self._recent[(principal.team, principal.key_id)] = (
            now.timestamp(),
            BudgetSnapshot(principal.team, now_ms, result.window_states, result.rate_states),
        )
        if result.admitted:
            return Ticket(
                principal.team,
                reservation_id,
                estimate_micros,
                result,
                request.windows,
                day=day_bucket(now),
            )
        if count_refusal:  # False when the caller retries with less (a verified request)
            await self.count_rejection(
                principal.team, "budget" if result.reason == "budget_exceeded" else "rate", now
            )
        raise refusal(result, estimate_micros, now_ms)

    async def count_rejection(self, team: str, kind: str, now: datetime) -> None:
        """Best effort: a refused request still shows in the team's report and metrics."""
        self.metrics.observe_rejection(team=team, reason=kind)
        with contextlib.suppress(budget_store.StoreError):
            await self.store.add_aggregates(
                team,
                Aggregates(day_bucket(now), rejection_increments(kind), self.retention_seconds),
            )

    async def count_disconnected(self, team: str, cost_micros: int, now: datetime) -> None:
        """Best effort: a request answered after its client left is charged (the image was
        made) and shows in the day's aggregates as ``disconnected`` / ``disconnected_micros``,
        beside the ``cancelled`` ones."""
        increments = {"disconnected": 1, "disconnected_micros": cost_micros}
        with contextlib.suppress(budget_store.StoreError):
            await self.store.add_aggregates(
                team, Aggregates(day_bucket(now), increments, self.retention_seconds)
            )

    async def settle(
        self,
        ticket: Ticket,
        actual_micros: int,
        now: datetime,
        *,
        ledger: Mapping[str, str] | None = None,
        latency: tuple[str, float] | None = None,
        usage: Mapping[str, int] | None = None,
        if_reaped: Mapping[str, int] | None = None,
    ) -> None:
        """Settle in the store; if it cannot be reached, journal the spend for replay instead.

        ``if_reaped`` is what the reaper added to the aggregates had it charged this
        reservation; a settle that corrects a reaped reservation takes it back out.
        """
        day = ticket.day or day_bucket(now)
        aggregates = Aggregates(day, usage, self.retention_seconds) if usage else None
        if ticket.local:
            self.local_cap.release()
        else:
            try:
                result = await self.store.settle(
                    ticket.team,
                    ticket.reservation_id,
                    actual_micros,
                    _ms(now),
                    ledger=ledger,
                    latency=latency,
                    aggregates=aggregates,
                )
                if result.outcome == "corrected_after_reap" and if_reaped:
                    await undo_reaped_aggregates(
                        self.store, ticket.team, if_reaped, day, self.retention_seconds
                    )
                return
            except budget_store.StoreError:
                log.error("settle_failed_journaling", reservation_id=ticket.reservation_id)
        if self.journal is None:
            raise StoreUnavailable("The budget store is unavailable and no journal is configured.")
        self.journal.append(
            SpendRecord(
                team=ticket.team,
                reservation_id=ticket.reservation_id,
                amount_micros=actual_micros,
                now_ms=_ms(now),
                windows=ticket.windows,
                if_reaped=dict(if_reaped or {}),
                ledger=dict(ledger or {}),
                aggregates=aggregates,
                local=ticket.local,
            )
        )

    async def release(
        self,
        ticket: Ticket,
        now: datetime,
        *,
        ledger: Mapping[str, str] | None = None,
        if_reaped: Mapping[str, int] | None = None,
    ) -> bool:
        """Undo the reservation. Should the reaper have charged it meanwhile, the refund's
        ledger entry carries ``ledger`` and the reaper's counters (``if_reaped``) are taken
        back, atomically with the refund."""
        if ticket.local:
            self.local_cap.release()
            return True
        undo = (
            Aggregates(
                ticket.day or day_bucket(now),
                {k: -v for k, v in if_reaped.items()},
                self.retention_seconds,
            )
            if if_reaped
            else None
        )
        try:
            return await self.store.release(
                ticket.team, ticket.reservation_id, _ms(now), ledger=ledger, aggregates=undo
            )
        except budget_store.StoreError as exc:
            raise translate_store_errors(exc) from exc


async def undo_reaped_aggregates(
    store: BudgetStore,
    team: str,
    reaped: Mapping[str, int],
    day: str,
    retention_seconds: int = RETENTION_SECONDS,
) -> None:
    """The request was counted once as unsettled by the reaper and once by its late settle;
    ``day`` is the reservation's, where the reaper counted it."""
    negated = {field: -value for field, value in reaped.items()}
    with contextlib.suppress(budget_store.StoreError):
        await store.add_aggregates(team, Aggregates(day, negated, retention_seconds))


def _ms(now: datetime) -> int:
    return int(now.timestamp() * 1000)
