"""Background reaper: charges the estimate of reservations a crashed replica left behind.

Runs in every replica; the store makes each reservation reaped at most once, so
replicas may reap concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

import structlog

from gateway.budget.store import Aggregates, BudgetStore, StoreError
from gateway.pipeline.service import Clock
from gateway.policy.schema import Policy
from gateway.usage import RETENTION_SECONDS, day_bucket, unsettled_increments

log = structlog.get_logger("gateway.admission.reaper")


async def reap_once(
    teams: Iterable[str] | Policy,
    store: BudgetStore,
    clock: Clock,
    retention_seconds: int = RETENTION_SECONDS,
) -> int:
    """Reap the expired reservations of ``teams`` (a policy: all of its teams)."""
    reaped = 0
    now_ms = int(clock().timestamp() * 1000)
    for team in teams.teams if isinstance(teams, Policy) else teams:
        for reservation in await store.reap(team, now_ms):
            reaped += 1
            meta = reservation.meta
            increments = unsettled_increments(
                tier=meta.get("tier", "unknown"),
                images=int(meta.get("n", "1")),
                estimate_micros=reservation.estimate_micros,
                baseline_micros=int(meta.get("baseline_estimate_micros", "0")),
                categories=[c for c in meta.get("categories", "").split(";") if c],
            )
            try:
                await store.add_aggregates(
                    team, Aggregates(reservation_day(meta, clock), increments, retention_seconds)
                )
            except StoreError:
                # The charge and its ledger entry are already in (reap is atomic); only the
                # report counters of this one reservation are lost. Keep going: the rest of
                # the batch is charged too and still needs its counters.
                log.error(
                    "reaped_aggregates_lost",
                    team=team,
                    reservation_id=reservation.reservation_id,
                    estimate_micros=reservation.estimate_micros,
                )
            log.warning(
                "reservation_reaped",
                team=team,
                reservation_id=reservation.reservation_id,
                estimate_micros=reservation.estimate_micros,
                request_id=reservation.meta.get("request_id"),
            )
    return reaped


def reservation_day(meta: Mapping[str, str], clock: Clock) -> str:
    """The UTC day the request was reserved (its ``ts_ms``), where its late settle or release
    takes the counters back; today if the meta does not say."""
    ts_ms = meta.get("ts_ms", "")
    if ts_ms.isascii() and ts_ms.isdigit():
        return day_bucket(datetime.fromtimestamp(int(ts_ms) / 1000, UTC))
    return day_bucket(clock())


async def run_reaper(
    policy: Callable[[], Policy],
    store: BudgetStore,
    clock: Clock,
    interval_seconds: float,
    stop: asyncio.Event,
    retention_seconds: int = RETENTION_SECONDS,
) -> None:
    """Reap every interval until ``stop`` is set (never cancelled mid-command: see app.py).

    ``policy`` gives the policy in force; a team a reload removed is still reaped here, so
    what it left reserved is charged rather than held forever."""
    teams: dict[str, None] = {}
    while not stop.is_set():
        teams.update(dict.fromkeys(policy().teams))
        with contextlib.suppress(StoreError):
            await reap_once(teams, store, clock, retention_seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_seconds)
