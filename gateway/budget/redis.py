"""Redis backend of the budget store: one Lua call per mutation, every key under `{team}`."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from redis import exceptions as rx
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript

from gateway.budget import readings
from gateway.budget.keys import KeySpace, TeamKeys, rpm_minute, window_field
from gateway.budget.redis_client import RedisClient, connect, script_source, translated_errors
from gateway.budget.store import (
    RPM_WINDOW_MS,
    Aggregates,
    BudgetSnapshot,
    DuplicateReservation,
    LatencyStats,
    RateLimit,
    ReapedReservation,
    ReserveReason,
    ReserveRequest,
    ReserveResult,
    SettleOutcome,
    SettleResult,
    StoreError,
    StoreOptions,
    Window,
    check_charge,
    check_ledger,
    check_team,
    parse_stream_id,
)

_RESERVE_REASONS: dict[str, ReserveReason] = {
    "ok": "ok",
    "replay": "ok",
    "budget_exceeded": "budget_exceeded",
    "rate_limited": "rate_limited",
    "concurrency_limited": "concurrency_limited",
}

_SETTLE_OUTCOMES: dict[str, SettleOutcome] = {
    "settled": "settled",
    "corrected_after_reap": "corrected_after_reap",
    "already_settled": "already_settled",
    "already_released": "already_released",
    "unknown_reservation": "unknown_reservation",
}


def _int(value: Any) -> int:
    return 0 if value is None else int(value)


def _aggregate_args(aggregates: Aggregates | None) -> tuple[int, list[str | int]]:
    """(TTL in ms, flat field/increment pairs) of `aggregates`; (0, []) when there is nothing."""
    if aggregates is None:
        return 0, []
    pairs: list[str | int] = []
    for name, delta in aggregates.increments.items():
        pairs += [name, delta]
    return aggregates.ttl_seconds * 1000, pairs


def _aggregate_key(
    tk: TeamKeys, aggregates: Aggregates | None, pairs: list[str | int]
) -> list[str]:
    """The aggregate hash a script writes (its last KEYS entry), when it has pairs to add."""
    return [tk.aggregates(aggregates.bucket)] if aggregates is not None and pairs else []


class RedisBudgetStore:
    """`BudgetStore` on Redis or Redis Cluster; safe to share by any number of replicas."""

    def __init__(
        self,
        client: RedisClient,
        *,
        key_prefix: str = "tg",
        options: StoreOptions | None = None,
    ) -> None:
        self._client = client
        self._keys = KeySpace(key_prefix)
        self._options = options or StoreOptions()
        # Registered once per client: hashed locally, run by EVALSHA, reloaded on NOSCRIPT.
        self._reserve = client.register_script(script_source("reserve_v1"))
        self._settle = client.register_script(script_source("settle_v2"))
        self._release = client.register_script(script_source("release_v2"))
        self._reap = client.register_script(script_source("reap_v2"))
        self._charge = client.register_script(script_source("charge_v1"))
        self._add_aggregates = client.register_script(script_source("add_aggregates_v1"))
        self._record_latency = client.register_script(script_source("record_latency_v1"))

    @classmethod
    def from_url(
        cls, url: str, *, key_prefix: str = "tg", options: StoreOptions | None = None
    ) -> RedisBudgetStore:
        return cls(connect(url), key_prefix=key_prefix, options=options)

    # -- reserve / settle / release / reap -------------------------------------------------

    async def reserve(self, req: ReserveRequest) -> ReserveResult:
        tk = self._keys.team(req.team)
        minute = rpm_minute(req.now_ms)
        keys = [
            *tk.common,
            tk.reservation(req.reservation_id),
            tk.done(req.reservation_id),
            *(tk.rpm(r.scope, minute) for r in req.rate_limits),
        ]
        args: list[str | int] = [
            req.reservation_id,
            req.estimate_micros,
            req.now_ms,
            req.deadline_ms,
            len(req.windows),
            len(req.rate_limits),
            len(req.meta),
            self._options.expired_fields_per_call,
            2 * RPM_WINDOW_MS,
        ]
        for w in req.windows:
            args += [window_field(w), w.limit_micros, w.ttl_seconds * 1000]
        for r in req.rate_limits:
            rpm = -1 if r.requests_per_minute is None else r.requests_per_minute
            cap = -1 if r.max_concurrent is None else r.max_concurrent
            args += [r.scope, rpm, cap]
        for k, v in req.meta.items():
            args += [k, v]
        with translated_errors():
            raw = await self._reserve(keys, args)
        status = str(raw[0])
        if status == "duplicate":
            raise DuplicateReservation(
                f"reservation {req.reservation_id!r} of team {req.team!r} is already finished"
            )
        numbers = [int(x) for x in raw[2:]]
        nw = len(req.windows)
        windows = [(numbers[2 * i], numbers[2 * i + 1]) for i in range(nw)]
        rates = [
            (numbers[2 * nw + 2 * j], numbers[2 * nw + 2 * j + 1])
            for j in range(len(req.rate_limits))
        ]
        return readings.reserve_result(
            req, _RESERVE_REASONS[status], int(raw[1]) - 1, windows, rates
        )

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
        tk = self._keys.team(team)
        keys = [*tk.common, tk.reservation(reservation_id), tk.done(reservation_id), tk.events]
        agg_ttl_ms, agg_pairs = _aggregate_args(aggregates)
        keys += _aggregate_key(tk, aggregates, agg_pairs)
        args: list[str | int] = [
            reservation_id,
            actual_micros,
            now_ms,
            self._options.settled_marker_ttl_seconds * 1000,
            self._options.ledger_maxlen,
            "0" if ledger is None else "1",
            0 if ledger is None else len(ledger),
            agg_ttl_ms,
            len(agg_pairs) // 2,
        ]
        for k, v in (ledger or {}).items():
            args += [k, v]
        args += agg_pairs
        calls: list[tuple[AsyncScript, list[str], list[str | int]]] = [(self._settle, keys, args)]
        if latency is not None:
            calls.append(self._latency_call(*latency, now_ms))
        with translated_errors():
            raw = (await self._run_scripts(calls))[0]
        estimate = int(raw[1])
        return SettleResult(
            outcome=_SETTLE_OUTCOMES[str(raw[0])],
            reservation_id=reservation_id,
            estimate_micros=None if estimate < 0 else estimate,
            actual_micros=actual_micros,
            spent_delta_micros=int(raw[2]),
            ledger_id=str(raw[3]) or None,
        )

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
        tk = self._keys.team(team)
        keys = [*tk.common, tk.reservation(reservation_id), tk.done(reservation_id), tk.events]
        agg_ttl_ms, agg_pairs = _aggregate_args(aggregates)
        keys += _aggregate_key(tk, aggregates, agg_pairs)
        args: list[str | int] = [
            reservation_id,
            now_ms,
            self._options.settled_marker_ttl_seconds * 1000,
            self._options.ledger_maxlen,
            len(ledger or {}),
            agg_ttl_ms,
            len(agg_pairs) // 2,
        ]
        for k, v in (ledger or {}).items():
            args += [k, v]
        args += agg_pairs
        with translated_errors():
            outcome = await self._release(keys, args)
        return outcome in ("released", "refunded_after_reap")

    async def reap(self, team: str, now_ms: int, limit: int = 100) -> list[ReapedReservation]:
        if limit <= 0:
            return []
        tk = self._keys.team(team)
        with translated_errors():
            due = [
                str(x)
                for x in await self._client.zrangebyscore(
                    tk.deadlines, "-inf", now_ms, start=0, num=limit
                )
            ]
            if not due:
                return []
            keys = [*tk.common, tk.events]
            for reservation_id in due:
                keys += [tk.reservation(reservation_id), tk.done(reservation_id)]
            args: list[str | int] = [
                now_ms,
                self._options.reap_tombstone_ttl_seconds * 1000,
                self._options.ledger_maxlen,
                *due,
            ]
            raw: list[Any] = await self._reap(keys, args)
        reaped: list[ReapedReservation] = []
        i = 0
        while i < len(raw):
            n_meta = int(raw[i + 4])
            pairs = raw[i + 5 : i + 5 + 2 * n_meta]
            reaped.append(
                ReapedReservation(
                    team=team,
                    reservation_id=str(raw[i]),
                    estimate_micros=int(raw[i + 1]),
                    deadline_ms=int(raw[i + 2]),
                    meta={str(k): str(v) for k, v in zip(pairs[::2], pairs[1::2], strict=True)},
                    ledger_id=str(raw[i + 3]),
                )
            )
            i += 5 + 2 * n_meta
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
        tk = self._keys.team(team)
        keys = [*tk.common, tk.done(charge_id), tk.events]
        agg_ttl_ms, agg_pairs = _aggregate_args(aggregates)
        keys += _aggregate_key(tk, aggregates, agg_pairs)
        args: list[str | int] = [
            charge_id,
            amount_micros,
            now_ms,
            self._options.reap_tombstone_ttl_seconds * 1000,
            self._options.ledger_maxlen,
            "0" if ledger is None else "1",
            self._options.expired_fields_per_call,
            agg_ttl_ms,
            len(windows),
            0 if ledger is None else len(ledger),
            len(agg_pairs) // 2,
        ]
        for w in windows:
            args += [window_field(w), w.ttl_seconds * 1000]
        for k, v in (ledger or {}).items():
            args += [k, v]
        args += agg_pairs
        with translated_errors():
            raw = await self._charge(keys, args)
        return str(raw[0]) == "charged"

    async def add_aggregates(self, team: str, aggregates: Aggregates) -> None:
        tk = self._keys.team(team)
        ttl_ms, pairs = _aggregate_args(aggregates)
        if not pairs:
            return
        with translated_errors():
            await self._add_aggregates([tk.aggregates(aggregates.bucket)], [ttl_ms, *pairs])

    # -- reads --------------------------------------------------------------------------------

    async def snapshot(
        self,
        team: str,
        windows: Sequence[Window],
        rate_limits: Sequence[RateLimit],
        now_ms: int,
    ) -> BudgetSnapshot:
        tk = self._keys.team(team)
        fields = [window_field(w) for w in windows]
        minute = rpm_minute(now_ms)
        replies: list[Any] = []
        if fields or rate_limits:
            # MULTI/EXEC: one round trip, and spent/reserved read at the same instant.
            pipe = self._client.pipeline(transaction=True)
            if fields:
                pipe.hmget(tk.spent, fields)
                pipe.hmget(tk.reserved, fields)
            if rate_limits:
                pipe.hmget(tk.inflight, [r.scope for r in rate_limits])
                for r in rate_limits:
                    pipe.get(tk.rpm(r.scope, minute))
            with translated_errors():
                replies = await pipe.execute()
        window_states = []
        if fields:
            spent, held = replies[0], replies[1]
            replies = replies[2:]
            window_states = [
                readings.window_state(w, _int(s), _int(h))
                for w, s, h in zip(windows, spent, held, strict=True)
            ]
        rate_states = []
        if rate_limits:
            flying, counts = replies[0], replies[1:]
            rate_states = [
                readings.rate_state(r, _int(c), _int(f), now_ms)
                for r, f, c in zip(rate_limits, flying, counts, strict=True)
            ]
        return BudgetSnapshot(
            team=team,
            now_ms=now_ms,
            window_states=tuple(window_states),
            rate_states=tuple(rate_states),
        )

    async def ledger_events(self, team: str, count: int = 100) -> list[tuple[str, dict[str, str]]]:
        """The team's oldest `count` ledger entries as (stream id, fields)."""
        tk = self._keys.team(team)
        with translated_errors():
            entries = await self._client.xrange(tk.events, "-", "+", count=count) or []
        return [
            (str(entry_id), {str(k): str(v) for k, v in (fields or {}).items()})
            for entry_id, fields in entries
        ]

    async def ledger_range(
        self,
        team: str,
        start_ms: int,
        end_ms: int,
        count: int = 1000,
        after_id: str | None = None,
    ) -> list[tuple[str, dict[str, str]]]:
        tk = self._keys.team(team)
        start_ms = max(start_ms, 0)
        if count <= 0 or end_ms <= start_ms:
            return []
        start = f"{start_ms}-0"
        if after_id is not None and parse_stream_id(after_id) >= (start_ms, 0):
            start = f"({after_id}"  # exclusive (Redis >= 6.2)
        with translated_errors():
            entries = await self._client.xrange(tk.events, start, f"({end_ms}-0", count=count)
        return [
            (str(entry_id), {str(k): str(v) for k, v in (fields or {}).items()})
            for entry_id, fields in entries or []
        ]

    async def aggregates(self, team: str, buckets: Sequence[str]) -> dict[str, dict[str, int]]:
        tk = self._keys.team(team)
        wanted = list(dict.fromkeys(buckets))
        if not wanted:
            return {}
        # Every key shares the team's hash tag, so even a cluster pipeline is one round trip.
        pipe = self._client.pipeline(transaction=False)
        for bucket in wanted:
            pipe.hgetall(tk.aggregates(bucket))
        with translated_errors():
            replies: list[dict[str, str]] = await pipe.execute()
        return {
            bucket: {str(k): int(v) for k, v in fields.items()}
            for bucket, fields in zip(wanted, replies, strict=True)
            if fields
        }

    # -- latency ------------------------------------------------------------------------------

    def _latency_call(
        self, tier: str, latency_ms: float, now_ms: int
    ) -> tuple[AsyncScript, list[str], list[str | int]]:
        if not math.isfinite(latency_ms) or latency_ms < 0:
            raise ValueError(f"latency_ms must be finite and >= 0, got {latency_ms}")
        member = f"{float(latency_ms)!r}:{uuid.uuid4().hex[:12]}"
        args: list[str | int] = [
            member,
            now_ms,
            self._options.latency_max_age_seconds * 1000,
            self._options.latency_max_samples,
        ]
        return (self._record_latency, [self._keys.latency(tier)], args)

    async def record_latency(self, tier: str, latency_ms: float, now_ms: int) -> None:
        script, keys, args = self._latency_call(tier, latency_ms, now_ms)
        with translated_errors():
            await script(keys, args)

    async def latency_stats(
        self, tiers: Sequence[str], window_seconds: int, now_ms: int
    ) -> Mapping[str, LatencyStats]:
        if not tiers:
            return {}
        keys = [self._keys.latency(t) for t in tiers]
        pipe = self._client.pipeline(transaction=False)
        for key in keys:
            pipe.zrangebyscore(key, now_ms - window_seconds * 1000, "+inf")
        with translated_errors():
            replies: list[list[str]] = await pipe.execute()
        return {
            tier: readings.latency_stats(tier, [float(m.split(":", 1)[0]) for m in members])
            for tier, members in zip(tiers, replies, strict=True)
        }

    # -- plumbing -----------------------------------------------------------------------------

    async def _run_scripts(
        self, calls: Sequence[tuple[AsyncScript, list[str], list[str | int]]]
    ) -> list[Any]:
        """Run scripts in one round trip, reloading any the server has lost.

        One server: a pipeline; a NOSCRIPT reply means that script did not run, so running
        it again is safe. Cluster (no EVALSHA in cluster pipelines, and the scripts may live
        on different nodes): concurrent calls, so still one round trip of latency.
        """
        if len(calls) == 1:
            script, keys, args = calls[0]
            return [await script(keys, args)]
        if isinstance(self._client, RedisCluster):
            return list(await asyncio.gather(*(script(keys, args) for script, keys, args in calls)))
        pipe = self._client.pipeline(transaction=False)
        for script, keys, args in calls:
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        replies = await pipe.execute(raise_on_error=False)
        results: list[Any] = []
        for (script, keys, args), reply in zip(calls, replies, strict=True):
            if isinstance(reply, rx.NoScriptError):
                reply = await script(keys, args)
            elif isinstance(reply, BaseException):
                raise reply
            results.append(reply)
        return results

    def team_keys(self, team: str) -> TeamKeys:
        """Key names of a team (for operators and the ledger code built on this store)."""
        check_team(team)
        return self._keys.team(team)

    async def ping(self) -> bool:
        try:
            with translated_errors():
                return bool(await self._client.ping())
        except StoreError:
            return False

    async def close(self) -> None:
        with translated_errors():
            await self._client.aclose()
