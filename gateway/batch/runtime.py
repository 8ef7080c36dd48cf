"""The pieces batches need, opened from settings: state, queue and blob store."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.batch.queue import JobQueue, MemoryJobQueue, RedisJobQueue
from gateway.batch.redis_state import RedisBatchState
from gateway.batch.state import BatchState, MemoryBatchState
from gateway.blobs import Blobs, open_blobs
from gateway.budget.redis_client import connect
from gateway.settings import Settings


@dataclass(slots=True)
class BatchRuntime:
    state: BatchState
    queue: JobQueue
    blobs: Blobs
    max_file_bytes: int
    max_file_lines: int

    async def close(self) -> None:
        await self.queue.close()
        await self.state.close()


def open_batch_runtime(settings: Settings) -> BatchRuntime:
    """``memory://`` keeps batches in this process (its own in-process worker runs them);
    a Redis store URL shares them with every ``tiergate worker`` that reaches it."""
    visibility_ms = int(settings.batch_visibility_timeout_seconds * 1000)
    state: BatchState
    queue: JobQueue
    if settings.store.startswith("memory://"):
        state, queue = MemoryBatchState(), MemoryJobQueue(visibility_ms)
    else:
        client = connect(settings.store)
        state = RedisBatchState(settings.store, settings.store_key_prefix, client=client)
        queue = RedisJobQueue(client, settings.store_key_prefix, visibility_ms)
    return BatchRuntime(
        state=state,
        queue=queue,
        blobs=open_blobs(settings.blob_store),
        max_file_bytes=settings.batch_max_file_bytes,
        max_file_lines=settings.batch_max_file_lines,
    )
