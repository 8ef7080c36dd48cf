"""The accounting part of the BudgetStore contract, run against every backend.

Ledger entries written by reap, daily aggregates written with settle or on their own,
ledger exports by time range, and the unconditional `charge` used by journal replay.
"""

from __future__ import annotations

import asyncio

import pytest

from gateway.budget import (
    Aggregates,
    BudgetStore,
    DuplicateReservation,
    RateLimit,
    Window,
)
from gateway.budget.store import parse_stream_id

from .test_contract import NOW, TEAM, request, states, window

DAY = "2026-11-27"
AGG_TTL_SECONDS = 40 * 86_400


def agg(increments: dict[str, int], bucket: str = DAY) -> Aggregates:
    return Aggregates(bucket, increments, AGG_TTL_SECONDS)


def stream_ms(stream_id: str) -> int:
    return parse_stream_id(stream_id)[0]


# -- reap writes the ledger -----------------------------------------------------------------


async def test_reap_writes_one_ledger_entry_per_reaped_reservation(store: BudgetStore) -> None:
    day = window(limit=10_000)
    meta = {"tier": "fast", "key_id": "k1", "request_id": "req-1"}
    await store.reserve(request("r1", 400, [day], deadline=NOW + 1_000, meta=meta))
    # Meta keys named like the store's or the reap's own fields do not override them.
    clash = {"outcome": "x", "status": "x", "cost_micros": "1", "usage": "x", "tier": "slow"}
    await store.reserve(request("r2", 0, [day], deadline=NOW + 2_000, meta=clash))
    await store.reserve(request("late", 100, [day], deadline=NOW + 60_000))

    reaped = await store.reap(TEAM, NOW + 5_000)

    assert [r.reservation_id for r in reaped] == ["r1", "r2"]
    assert all(r.ledger_id is not None for r in reaped)
    assert reaped[1].meta == clash  # the reservation's meta itself is handed back unchanged
    assert await store.ledger_events(TEAM) == [
        (
            reaped[0].ledger_id,
            {
                "reservation_id": "r1",
                "outcome": "reaped",
                "estimate_micros": "400",
                "actual_micros": "400",
                **meta,
                "status": "unsettled",
                "cost_micros": "400",
                "usage": "estimated",
            },
        ),
        (
            reaped[1].ledger_id,
            {
                "reservation_id": "r2",
                "outcome": "reaped",
                "estimate_micros": "0",
                "actual_micros": "0",
                "tier": "slow",
                "status": "unsettled",
                "cost_micros": "0",
                "usage": "estimated",
            },
        ),
    ]
    assert await store.reap(TEAM, NOW + 6_000) == []
    assert len(await store.ledger_events(TEAM)) == 2


async def test_concurrent_reapers_write_one_ledger_entry_each(
    store: BudgetStore, peer_store: BudgetStore
) -> None:
    day = window(limit=100_000)
    ids = [f"r{i:02d}" for i in range(20)]
    for rid in ids:
        await store.reserve(request(rid, 100, [day], deadline=NOW + 1_000, meta={"rid": rid}))
    later = NOW + 2_000
    batches = await asyncio.gather(
        *(store.reap(TEAM, later, limit=7) for _ in range(3)),
        *(peer_store.reap(TEAM, later, limit=7) for _ in range(3)),
        store.reap(TEAM, later),
        peer_store.reap(TEAM, later),
    )
    reaped = [r for batch in batches for r in batch]
    reaped += await store.reap(TEAM, later)  # whatever the limited reapers left

    assert sorted(r.reservation_id for r in reaped) == ids  # each reaped exactly once
    events = await store.ledger_events(TEAM)
    assert sorted(fields["reservation_id"] for _, fields in events) == ids
    assert {fields["outcome"] for _, fields in events} == {"reaped"}
    assert {event_id: fields["rid"] for event_id, fields in events} == {
        r.ledger_id: r.reservation_id for r in reaped
    }
    assert await states(store, [day]) == [(2_000, 0, 98_000)]


async def test_settle_after_reap_writes_its_own_entry_and_aggregates(store: BudgetStore) -> None:
    day = window(limit=1_000)
    await store.reserve(request("r1", 400, [day], deadline=NOW + 1_000))
    (reaped,) = await store.reap(TEAM, NOW + 1_000)
    # The caller counts the reaped estimate itself...
    await store.add_aggregates(TEAM, agg({"cost_micros": 400, "reaped": 1}))

    # ...and the late settle corrects it; the store applies the increments as given.
    correction = agg({"cost_micros": 150 - 400, "reaped": -1, "settled": 1})
    late = await store.settle(
        TEAM, "r1", 150, NOW + 2_000, ledger={"tier": "fast"}, aggregates=correction
    )
    assert late.outcome == "corrected_after_reap" and late.ledger_id is not None
    assert await store.aggregates(TEAM, [DAY]) == {
        DAY: {"cost_micros": 150, "reaped": 0, "settled": 1}
    }
    events = await store.ledger_events(TEAM)
    assert [(event_id, fields["outcome"]) for event_id, fields in events] == [
        (reaped.ledger_id, "reaped"),
        (late.ledger_id, "corrected_after_reap"),
    ]
    assert events[1][1]["actual_micros"] == "150"

    again = await store.settle(TEAM, "r1", 150, NOW + 3_000, aggregates=correction)
    assert again.outcome == "already_settled"
    assert (await store.aggregates(TEAM, [DAY]))[DAY]["cost_micros"] == 150


# -- aggregates -----------------------------------------------------------------------------


async def test_settle_adds_the_aggregates_once(store: BudgetStore) -> None:
    day = window(limit=10_000)
    increments = {"tier:efficient:cost_micros": 321, "tier:efficient:requests": 1}
    await store.reserve(request("r1", 500, [day]))

    first = await store.settle(TEAM, "r1", 321, NOW, aggregates=agg(increments))
    assert first.outcome == "settled"
    assert await store.aggregates(TEAM, [DAY]) == {DAY: increments}

    second = await store.settle(TEAM, "r1", 321, NOW + 1, aggregates=agg(increments))
    assert second.outcome == "already_settled"
    assert await store.aggregates(TEAM, [DAY]) == {DAY: increments}

    # Outcomes that leave spent alone leave the aggregates alone too.
    await store.reserve(request("r2", 500, [day]))
    assert await store.release(TEAM, "r2", NOW)
    released = await store.settle(TEAM, "r2", 100, NOW, aggregates=agg(increments))
    unknown = await store.settle(TEAM, "nope", 100, NOW, aggregates=agg(increments))
    assert (released.outcome, unknown.outcome) == ("already_released", "unknown_reservation")
    assert await store.aggregates(TEAM, [DAY]) == {DAY: increments}


async def test_settle_with_ledger_latency_and_aggregates(store: BudgetStore) -> None:
    await store.reserve(request("r1", 500, [window()]))
    result = await store.settle(
        TEAM,
        "r1",
        200,
        NOW,
        ledger={"tier": "fast"},
        latency=("fast", 900.0),
        aggregates=agg({"cost_micros": 200}),
    )
    assert result.outcome == "settled" and result.ledger_id is not None
    assert await store.aggregates(TEAM, [DAY]) == {DAY: {"cost_micros": 200}}
    assert (await store.latency_stats(["fast"], 60, NOW))["fast"].count == 1


async def test_add_aggregates_and_read_several_buckets(store: BudgetStore) -> None:
    await store.add_aggregates(TEAM, agg({"rejected:budget": 1, "rejected:rpm": 2}))
    await store.add_aggregates(TEAM, agg({"rejected:budget": 1, "credit_micros": -70}))
    await store.add_aggregates(TEAM, agg({"rejected:budget": 5}, bucket="2026-11-26"))
    await store.add_aggregates(TEAM, agg({}, bucket="2026-11-25"))  # nothing to add
    await store.add_aggregates("other", agg({"rejected:budget": 100}))

    assert await store.aggregates(TEAM, ["2026-11-25", "2026-11-26", DAY, "2026-11-28"]) == {
        "2026-11-26": {"rejected:budget": 5},
        DAY: {"rejected:budget": 2, "rejected:rpm": 2, "credit_micros": -70},
    }
    assert await store.aggregates(TEAM, []) == {}
    assert await store.aggregates("nobody", [DAY]) == {}
    assert await store.aggregates("other", [DAY]) == {DAY: {"rejected:budget": 100}}


def test_aggregates_are_validated() -> None:
    with pytest.raises(ValueError):
        Aggregates("", {"a": 1}, 60)
    with pytest.raises(ValueError):
        Aggregates("{x}", {"a": 1}, 60)
    with pytest.raises(ValueError):
        Aggregates(DAY, {"a": 1}, 0)
    with pytest.raises(ValueError):
        Aggregates(DAY, {"a": 2**53}, 60)
    with pytest.raises(TypeError):
        Aggregates(DAY, {"a": True}, 60)
    with pytest.raises(TypeError):
        Aggregates(DAY, {"": 1}, 60)
    increments = {"a": 1}
    frozen = Aggregates(DAY, increments, 60)
    increments["a"] = 2
    assert frozen.increments == {"a": 1}


# -- ledger exports -------------------------------------------------------------------------


async def test_ledger_range_pages_by_time_and_id(store: BudgetStore) -> None:
    ids = [f"r{i}" for i in range(7)]
    for i, rid in enumerate(ids):
        await store.reserve(request(rid, 10, [window()]))
        await store.settle(TEAM, rid, 10, NOW + 1_000 * (i // 2), ledger={"n": str(i)})
        await asyncio.sleep(0.002)  # Redis stamps entries with its own clock
    await store.reserve(request("x", 10, [window()], team="other"))
    await store.settle("other", "x", 10, NOW, ledger={})
    everything = await store.ledger_events(TEAM)
    assert [fields["reservation_id"] for _, fields in everything] == ids
    first_ms, last_ms = stream_ms(everything[0][0]), stream_ms(everything[-1][0])

    pages: list[list[tuple[str, dict[str, str]]]] = []
    after: str | None = None
    while page := await store.ledger_range(TEAM, first_ms, last_ms + 1, count=3, after_id=after):
        pages.append(page)
        after = page[-1][0]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [e for p in pages for e in p] == everything

    # [start_ms, end_ms): each millisecond holds exactly the entries stamped with it.
    for ms in {stream_ms(event_id) for event_id, _ in everything}:
        assert await store.ledger_range(TEAM, ms, ms + 1) == [
            e for e in everything if stream_ms(e[0]) == ms
        ]
    assert await store.ledger_range(TEAM, 0, first_ms) == []
    assert await store.ledger_range(TEAM, last_ms + 1, last_ms + 10**9) == []
    assert await store.ledger_range(TEAM, first_ms, first_ms) == []
    assert await store.ledger_range(TEAM, first_ms, last_ms + 1, count=0) == []
    # An after_id before the range does not widen it.
    assert await store.ledger_range(TEAM, last_ms, last_ms + 1, after_id="0-0") == [
        e for e in everything if stream_ms(e[0]) == last_ms
    ]
    with pytest.raises(ValueError):
        await store.ledger_range(TEAM, first_ms, last_ms + 1, after_id="not-an-id")


# -- charge ---------------------------------------------------------------------------------


async def test_charge_records_spend_over_the_limit_once(store: BudgetStore) -> None:
    day, month = window(limit=1_000), window(period="month", limit=5_000)
    await store.reserve(request("r1", 900, [day, month]))
    await store.settle(TEAM, "r1", 900, NOW)
    ledger = {"tier": "fast", "journal_at_ms": str(NOW - 5_000)}

    charged = await store.charge(
        TEAM, "j1", [day, month], 500, NOW, ledger=ledger, aggregates=agg({"cost_micros": 500})
    )

    assert charged is True
    assert await states(store, [day, month]) == [(1_400, 0, 0), (1_400, 0, 3_600)]
    events = await store.ledger_events(TEAM)
    assert [fields for _, fields in events] == [
        {
            "reservation_id": "j1",
            "outcome": "charged",
            "estimate_micros": "500",
            "actual_micros": "500",
            **ledger,
        }
    ]
    assert await store.aggregates(TEAM, [DAY]) == {DAY: {"cost_micros": 500}}
    refused = await store.reserve(request("r2", 1, [day]))
    assert not refused.admitted and refused.reason == "budget_exceeded"

    # A replayed journal entry changes nothing, whatever it carries.
    again = await store.charge(
        TEAM, "j1", [day], 700, NOW + 1, ledger=ledger, aggregates=agg({"cost_micros": 700})
    )
    assert again is False
    assert await states(store, [day, month]) == [(1_400, 0, 0), (1_400, 0, 3_600)]
    assert len(await store.ledger_events(TEAM)) == 1
    assert await store.aggregates(TEAM, [DAY]) == {DAY: {"cost_micros": 500}}

    # The id is finished for the reservation calls too.
    with pytest.raises(DuplicateReservation):
        await store.reserve(request("j1", 1, [window(limit=10**6)]))
    settled = await store.settle(TEAM, "j1", 1, NOW)
    assert (settled.outcome, settled.spent_delta_micros) == ("already_settled", 0)
    assert settled.ledger_id == events[0][0]
    assert await store.release(TEAM, "j1", NOW) is False


async def test_concurrent_replays_charge_once(store: BudgetStore, peer_store: BudgetStore) -> None:
    day = window(limit=0)
    results = await asyncio.gather(
        *(s.charge(TEAM, "j1", [day], 250, NOW, ledger={}) for s in [store, peer_store] * 4)
    )
    assert sorted(results) == [False] * 7 + [True]
    assert await states(store, [day]) == [(250, 0, 0)]
    assert len(await store.ledger_events(TEAM)) == 1


async def test_charge_of_a_finished_reservation_id_changes_nothing(store: BudgetStore) -> None:
    day = window(limit=1_000)
    await store.reserve(request("r1", 300, [day]))
    await store.settle(TEAM, "r1", 300, NOW)
    await store.reserve(request("r2", 200, [day], deadline=NOW + 1_000))
    await store.reap(TEAM, NOW + 1_000)
    assert await store.charge(TEAM, "r1", [day], 300, NOW + 2_000) is False
    assert await store.charge(TEAM, "r2", [day], 200, NOW + 2_000) is False
    assert await states(store, [day]) == [(500, 0, 500)]


async def test_charge_without_ledger_or_aggregates(store: BudgetStore) -> None:
    day = window()
    rate = RateLimit("team", requests_per_minute=1, max_concurrent=1)
    assert await store.charge(TEAM, "j1", [day], 0, NOW) is True
    assert await store.charge(TEAM, "j2", [], 10, NOW) is True
    assert await store.charge(TEAM, "j3", [day], 10, NOW) is True
    assert await store.ledger_events(TEAM) == []
    assert await store.aggregates(TEAM, [DAY]) == {}
    snap = await store.snapshot(TEAM, [day], [rate], NOW)
    assert snap.window_states[0].spent_micros == 10
    # Charges count no requests.
    assert (snap.rate_states[0].requests_remaining, snap.rate_states[0].in_flight) == (1, 0)


async def test_charged_counters_expire_like_reserved_ones(store: BudgetStore) -> None:
    short = Window("team", "hour", "2026-11-27T10", 1_000, ttl_seconds=60)
    assert await store.charge(TEAM, "j1", [short], 900, NOW)
    assert not (await store.reserve(request("r1", 200, [short], now=NOW + 59_999))).admitted
    assert (await store.reserve(request("r2", 200, [short], now=NOW + 60_000))).admitted
    assert await states(store, [short], NOW + 60_000) == [(0, 200, 800)]


async def test_charge_rejects_bad_arguments(store: BudgetStore) -> None:
    day = window()
    with pytest.raises(ValueError):
        await store.charge(TEAM, "", [day], 1, NOW)
    with pytest.raises(ValueError):
        await store.charge(TEAM, "j1", [day], -1, NOW)
    with pytest.raises(ValueError):
        await store.charge(TEAM, "j1", [day, day], 1, NOW)
    with pytest.raises(ValueError):
        await store.charge(TEAM, "j1", [day], 1, NOW, ledger={"outcome": "x"})
    with pytest.raises(ValueError):
        await store.charge("{bad}", "j1", [day], 1, NOW)
    assert await store.charge(TEAM, "j1", [day], 1, NOW) is True  # nothing was recorded
