"""The spend journal (gateway/admission/journal.py) against every store backend.

Records written while a replay is in flight survive it; a journaled late settle of a
reservation the reaper already charged replaces the reaper's "unsettled" counters; a settle
that may have been applied is never charged a second time.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from gateway.admission.journal import SpendJournal, SpendRecord
from gateway.budget import Aggregates, BudgetStore, SettleResult, StoreOptions
from tests.budget.test_contract import NOW, TEAM, request, states, window

DAY = "2026-11-27"
TTL_SECONDS = 40 * 86_400


def record(
    reservation_id: str,
    amount: int,
    *,
    aggregates: dict[str, int] | None = None,
    if_reaped: dict[str, int] | None = None,
    local: bool = True,
) -> SpendRecord:
    return SpendRecord(
        team=TEAM,
        reservation_id=reservation_id,
        amount_micros=amount,
        now_ms=NOW,
        windows=(window(limit=10_000),),
        ledger={"status": "ok", "cost_micros": str(amount)},
        aggregates=None if aggregates is None else Aggregates(DAY, aggregates, TTL_SECONDS),
        if_reaped=if_reaped or {},
        local=local,
    )


class JournalsDuringSettle:
    """The real store; its first settle lets another request journal a record first, as a
    request finishing while the replayer waits on the store would."""

    def __init__(self, store: BudgetStore, journal: SpendJournal, late: SpendRecord) -> None:
        self._store, self._journal, self._late = store, journal, late

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def settle(self, *args: Any, **kwargs: Any) -> SettleResult:
        if self._late is not None:
            self._journal.append(self._late)
            self._late = None  # type: ignore[assignment]
        return await self._store.settle(*args, **kwargs)


async def test_records_journaled_while_replaying_are_kept(
    store: BudgetStore, tmp_path: Path
) -> None:
    journal = SpendJournal(tmp_path)
    journal.append(record("first", 300))
    during = JournalsDuringSettle(store, journal, record("second", 200))

    assert await journal.replay(during) == 1  # type: ignore[arg-type]

    assert journal.pending() == 1  # "second" was not dropped by the rewrite
    assert await journal.replay(store) == 1
    assert journal.pending() == 0
    assert (await states(store, [window(limit=10_000)]))[0][0] == 500
    charged = {fields["reservation_id"] for _, fields in await store.ledger_events(TEAM)}
    assert charged == {"first", "second"}


async def test_a_replayed_late_settle_takes_back_the_reapers_counters(
    store: BudgetStore, tmp_path: Path
) -> None:
    day = window(limit=10_000)
    await store.reserve(request("r1", 800, [day], deadline=NOW + 1_000))
    # The settle could not reach the store, so it was journaled; then the reaper charged the
    # estimate and counted the request as unsettled.
    unsettled = {"requests": 1, "cost_micros": 800, "unsettled": 1, "unsettled_micros": 800}
    journal = SpendJournal(tmp_path, clock_ms=lambda: NOW + 10_000)
    journal.append(
        record(
            "r1",
            300,
            aggregates={"requests": 1, "cost_micros": 300},
            if_reaped=unsettled,
            local=False,
        )
    )
    assert len(await store.reap(TEAM, NOW + 5_000)) == 1
    await store.add_aggregates(TEAM, Aggregates(DAY, unsettled, TTL_SECONDS))

    assert await journal.replay(store) == 1

    assert (await states(store, [day]))[0][0] == 300
    counters = (await store.aggregates(TEAM, [DAY]))[DAY]
    assert counters["requests"] == 1
    assert counters["cost_micros"] == 300
    assert counters["unsettled"] == 0
    assert counters["unsettled_micros"] == 0


MARKER_TTL_SECONDS = 1


@pytest.fixture
def store_options() -> StoreOptions:
    """Settled markers kept 1 s, so a test can outlive them."""
    return StoreOptions(settled_marker_ttl_seconds=MARKER_TTL_SECONDS)


async def test_a_settle_that_may_have_landed_is_not_charged_again_later(
    store: BudgetStore, tmp_path: Path
) -> None:
    day = window(limit=10_000)
    await store.reserve(request("r1", 800, [day]))
    # The settle reached the store but its reply was lost, so the gateway journaled it ...
    await store.settle(TEAM, "r1", 300, NOW)
    journal = SpendJournal(
        tmp_path,
        settled_marker_ttl_seconds=MARKER_TTL_SECONDS,
        clock_ms=lambda: NOW + 2_000,
    )
    journal.append(record("r1", 300, local=False))
    await asyncio.sleep(MARKER_TTL_SECONDS + 0.2)  # ... and the store's memory of it expired

    assert await journal.replay(store) == 1

    assert (await states(store, [day]))[0][0] == 300  # once, not 600
    assert journal.pending() == 0


async def test_a_fresh_record_the_store_does_not_know_is_charged(
    store: BudgetStore, tmp_path: Path
) -> None:
    # Within the marker's lifetime, "unknown" means the store lost the reservation (e.g. a
    # restart without persistence): the spend must still be recorded.
    journal = SpendJournal(tmp_path, settled_marker_ttl_seconds=600, clock_ms=lambda: NOW)
    journal.append(record("lost", 300, local=False))

    assert await journal.replay(store) == 1

    assert (await states(store, [window(limit=10_000)]))[0][0] == 300


def test_a_record_survives_its_json_line() -> None:
    original = record(
        "r1", 300, aggregates={"requests": 1}, if_reaped={"unsettled": 1, "requests": 1}
    )

    assert SpendRecord.from_json(original.to_json()) == original
