"""The BatchState and JobQueue contracts, on memory:// and on a real Redis."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from gateway.batch.models import FileObject
from gateway.batch.queue import JobQueue, MemoryJobQueue, RedisJobQueue
from gateway.batch.redis_state import RedisBatchState
from gateway.batch.state import BatchState, MemoryBatchState
from gateway.budget.redis_client import connect
from tests.support import REDIS_URL, require_redis


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def state(request: pytest.FixtureRequest) -> AsyncIterator[BatchState]:
    if request.param == "memory":
        yield MemoryBatchState()
        return
    require_redis()
    backend = RedisBatchState(REDIS_URL, "tgbs-" + uuid.uuid4().hex[:8])
    yield backend
    await backend.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def queue(request: pytest.FixtureRequest) -> AsyncIterator[JobQueue]:
    if request.param == "memory":
        yield MemoryJobQueue(visibility_timeout_ms=300)
        return
    require_redis()
    client = connect(REDIS_URL)
    yield RedisJobQueue(client, "tgbq-" + uuid.uuid4().hex[:8], visibility_timeout_ms=300)
    await client.aclose()


def batch_fields(batch_id: str, status: str = "in_progress", total: int = 3) -> dict[str, str]:
    return {
        "id": batch_id,
        "status": status,
        "created_at": str(int(time.time())),
        "total": str(total),
        "completed": "0",
        "failed": "0",
        "spent_micros": "0",
    }


async def test_an_item_outcome_counts_once_however_many_record_it(state: BatchState) -> None:
    await state.create_batch("t", "b1", batch_fields("b1"))
    results = await asyncio.gather(
        *(state.record_item("t", "b1", 0, "completed", 1000) for _ in range(20))
    )
    assert sum(r.first for r in results) == 1
    batch = await state.get_batch("t", "b1")
    assert batch is not None and batch["completed"] == "1" and batch["spent_micros"] == "1000"
    await state.record_item("t", "b1", 1, "failed", 0)
    last = await state.record_item("t", "b1", 2, "completed", 500)
    assert last.all_done and (last.completed, last.failed, last.total) == (2, 1, 3)
    assert await state.item_outcomes("t", "b1") == {0: "completed", 1: "failed", 2: "completed"}


async def test_transitions_happen_only_from_the_statuses_named(state: BatchState) -> None:
    await state.create_batch("t", "b1", batch_fields("b1", status="validating"))
    assert not await state.transition("t", "b1", ["in_progress"], {"status": "finalizing"})
    assert await state.transition("t", "b1", ["validating"], {"status": "in_progress"})
    assert (await state.get_batch("t", "b1"))["status"] == "in_progress"  # type: ignore[index]
    assert not await state.transition("t", "missing", None, {"status": "failed"})


async def test_records_belong_to_their_team_and_list_newest_first(state: BatchState) -> None:
    for i in range(3):
        await state.create_batch("t", f"b{i}", batch_fields(f"b{i}"))
    await state.save_file(
        "t", FileObject(id="f1", bytes=1, created_at=1, filename="a", purpose="batch")
    )
    assert await state.get_batch("other", "b0") is None
    assert await state.get_file("other", "f1") is None
    assert not await state.delete_file("other", "f1")
    page, more = await state.list_batches("t", None, 2)
    assert [b["id"] for b in page] == ["b2", "b1"] and more
    page, more = await state.list_batches("t", "b1", 2)
    assert [b["id"] for b in page] == ["b0"] and not more
    assert await state.list_batches("other", None, 10) == ([], False)
    assert await state.list_batches("t", "unknown", 10) == ([], False)
    assert await state.delete_file("t", "f1")
    assert await state.get_file("t", "f1") is None


async def test_jobs_are_delivered_acknowledged_and_delayed(queue: JobQueue) -> None:
    await queue.push([b"one", b"two"])
    got = await queue.pull("w1", 10, 200)
    assert sorted(d.job for d in got) == [b"one", b"two"]
    await queue.ack([d.id for d in got])
    assert await queue.pull("w1", 10, 50) == []
    due = int(time.time() * 1000) + 150
    await queue.delay(b"later", due)
    assert await queue.promote_due(due - 100) == 0
    assert (await queue.depth()).delayed == 1
    assert await queue.promote_due(due) == 1
    (later,) = await queue.pull("w1", 10, 200)
    assert later.job == b"later"
    await queue.ack([later.id])
    depth = await queue.depth()
    assert (depth.waiting, depth.running, depth.delayed) == (0, 0, 0)


@pytest.mark.redis
async def test_a_job_whose_worker_stops_renewing_it_goes_to_another() -> None:
    require_redis()
    client = connect(REDIS_URL)
    queue = RedisJobQueue(client, "tgbq-" + uuid.uuid4().hex[:8], visibility_timeout_ms=300)
    try:
        await queue.push([b"renewed", b"abandoned"])
        taken = await queue.pull("dead-or-alive", 10, 200)
        renewed = next(d for d in taken if d.job == b"renewed")
        for _ in range(5):  # the live worker renews its job; the other is left to go stale
            await asyncio.sleep(0.1)
            await queue.touch("dead-or-alive", [renewed.id])
        claimed = await queue.pull("rescuer", 10, 50)
        assert [(d.job, d.deliveries) for d in claimed] == [(b"abandoned", 2)]
        await queue.ack([claimed[0].id, renewed.id])
        await asyncio.sleep(0.4)
        assert await queue.pull("rescuer", 10, 50) == []  # acknowledged: never again
    finally:
        await client.aclose()
