"""Reserves that failed with the store unavailable yet may have been applied, released later."""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

import structlog

from gateway.budget.store import BudgetStore, StoreError

log = structlog.get_logger("gateway.admission.unconfirmed")


class UnconfirmedReservations:
    """Reserves that failed with the store unavailable, yet may have been applied.

    A reserve whose reply was lost (a timeout after the script ran) leaves a reservation
    for a request that was answered 503 and never ran; at its deadline the reaper would
    charge its estimate. These ids are released as soon as the store answers again: a
    reserve that never landed is unknown to the store, and its release changes nothing.
    Per replica and in memory (a crash leaves them to the reaper), at most ``limit`` ids.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._pending: OrderedDict[tuple[str, str], None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, team: str, reservation_id: str) -> None:
        self._pending[(team, reservation_id)] = None
        while len(self._pending) > self.limit:
            self._pending.popitem(last=False)

    async def release(self, store: BudgetStore, now_ms: int) -> int:
        """Release every pending id; stops at the first store error. Returns how many
        reservations this undid (the rest had never landed)."""
        undone = 0
        while self._pending:
            team, reservation_id = next(iter(self._pending))
            ledger = {"status": "released", "cost_micros": "0", "reserve": "unconfirmed"}
            if await store.release(team, reservation_id, now_ms, ledger=ledger):
                undone += 1
                log.warning(
                    "unconfirmed_reservation_released", team=team, reservation_id=reservation_id
                )
            del self._pending[(team, reservation_id)]
        return undone


async def run_unconfirmed_releases(
    unconfirmed: UnconfirmedReservations,
    store: BudgetStore,
    clock: Callable[[], datetime],
    interval_seconds: float,
    stop: asyncio.Event,
) -> None:
    """Release unconfirmed reserves every interval until ``stop`` is set."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_seconds)
        if len(unconfirmed):
            with contextlib.suppress(StoreError):
                await unconfirmed.release(store, int(clock().timestamp() * 1000))
