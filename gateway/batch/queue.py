"""The work queue batch workers share: jobs delivered at least once, re-delivered if a
worker dies holding them, and delayed jobs that come back when they are due.

On Redis it is a stream with one consumer group (``XREADGROUP``): a job stays in the
group's pending list until its worker acknowledges it; a worker renews its jobs while it
runs them (``touch``), and a job no worker has renewed for ``visibility_timeout_ms`` is
claimed by the next worker that asks (``XAUTOCLAIM``). Delayed jobs wait in a sorted set
by due time and are moved back into the stream by whichever worker promotes them first.
Jobs are idempotent by design (``gateway.batch.executor``), so at-least-once is enough.

Keys: ``<prefix>:{batchq}:jobs`` (stream) and ``<prefix>:{batchq}:delayed`` (zset).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.batch.redis_state import lua
from gateway.budget.redis_client import translated_errors

GROUP = "workers"


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    job: bytes
    deliveries: int
    """1 the first time this job is handed out; more when it was claimed from a dead worker."""


@dataclass(frozen=True, slots=True)
class QueueDepth:
    waiting: int
    """Jobs in the queue no worker has taken yet."""
    running: int
    """Jobs taken by a worker and not yet acknowledged."""
    delayed: int
    """Jobs waiting for their due time (budget, rate limits)."""


class JobQueue(Protocol):
    visibility_timeout_ms: int

    async def push(self, jobs: Sequence[bytes]) -> None: ...

    async def delay(self, job: bytes, ready_ms: int) -> None: ...

    async def pull(self, consumer: str, count: int, block_ms: int) -> list[Delivery]:
        """Up to ``count`` jobs: abandoned ones first, then new ones (waiting ``block_ms``)."""
        ...

    async def ack(self, ids: Sequence[str]) -> None: ...

    async def touch(self, consumer: str, ids: Sequence[str]) -> None:
        """Renew the jobs this consumer is running, so nobody claims them."""
        ...

    async def promote_due(self, now_ms: int) -> int: ...

    async def depth(self) -> QueueDepth: ...

    async def close(self) -> None: ...


class MemoryJobQueue:
    """One process's queue (``memory://``): nothing survives the process, nobody else shares
    it, so there is nothing to claim back."""

    def __init__(self, visibility_timeout_ms: int = 30_000) -> None:
        self.visibility_timeout_ms = visibility_timeout_ms
        self._ready: asyncio.Queue[Delivery] = asyncio.Queue()
        self._running: set[str] = set()
        self._delayed: list[tuple[int, int, bytes]] = []
        self._ids = itertools.count(1)

    async def push(self, jobs: Sequence[bytes]) -> None:
        for job in jobs:
            self._ready.put_nowait(Delivery(str(next(self._ids)), job, 1))

    async def delay(self, job: bytes, ready_ms: int) -> None:
        heapq.heappush(self._delayed, (ready_ms, next(self._ids), job))

    async def pull(self, consumer: str, count: int, block_ms: int) -> list[Delivery]:
        out: list[Delivery] = []
        if self._ready.empty():
            with contextlib.suppress(TimeoutError):
                out.append(await asyncio.wait_for(self._ready.get(), block_ms / 1000))
        while len(out) < count and not self._ready.empty():
            out.append(self._ready.get_nowait())
        self._running.update(d.id for d in out)
        return out

    async def ack(self, ids: Sequence[str]) -> None:
        self._running.difference_update(ids)

    async def touch(self, consumer: str, ids: Sequence[str]) -> None:
        return None

    async def promote_due(self, now_ms: int) -> int:
        moved = 0
        while self._delayed and self._delayed[0][0] <= now_ms:
            _, _, job = heapq.heappop(self._delayed)
            await self.push([job])
            moved += 1
        return moved

    async def depth(self) -> QueueDepth:
        return QueueDepth(self._ready.qsize(), len(self._running), len(self._delayed))

    async def close(self) -> None:
        return None


class RedisJobQueue:
    def __init__(
        self, client: Any, key_prefix: str = "tg", visibility_timeout_ms: int = 30_000
    ) -> None:
        self._redis = client
        self.visibility_timeout_ms = visibility_timeout_ms
        self._stream = f"{key_prefix}:{{batchq}}:jobs"
        self._delayed = f"{key_prefix}:{{batchq}}:delayed"
        self._promote = client.register_script(lua("queue_promote_v1"))
        self._group_ready = False

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        from redis.exceptions import ResponseError

        with translated_errors():
            try:
                await self._redis.xgroup_create(self._stream, GROUP, id="0", mkstream=True)
            except ResponseError as exc:  # BUSYGROUP: another worker made it first
                if "BUSYGROUP" not in str(exc):
                    raise
        self._group_ready = True

    async def push(self, jobs: Sequence[bytes]) -> None:
        await self._ensure_group()
        with translated_errors():
            for start in range(0, len(jobs), 500):
                async with self._redis.pipeline(transaction=False) as pipe:
                    for job in jobs[start : start + 500]:
                        pipe.xadd(self._stream, {"job": job})
                    await pipe.execute()

    async def delay(self, job: bytes, ready_ms: int) -> None:
        with translated_errors():
            await self._redis.zadd(self._delayed, {job: ready_ms})

    async def pull(self, consumer: str, count: int, block_ms: int) -> list[Delivery]:
        await self._ensure_group()
        with translated_errors():
            # Abandoned first: a job whose worker stopped renewing it is the oldest work.
            _, claimed, *_ = await self._redis.xautoclaim(
                self._stream, GROUP, consumer, self.visibility_timeout_ms, "0-0", count=count
            )
            out = [Delivery(i, f["job"].encode(), 2) for i, f in claimed if f]
            if len(out) < count:
                found = await self._redis.xreadgroup(
                    GROUP,
                    consumer,
                    {self._stream: ">"},
                    count=count - len(out),
                    block=block_ms if not out else None,
                )
                for _, entries in found or []:
                    out += [Delivery(i, f["job"].encode(), 1) for i, f in entries]
        return out

    async def ack(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        with translated_errors():
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.xack(self._stream, GROUP, *ids)
                pipe.xdel(self._stream, *ids)
                await pipe.execute()

    async def touch(self, consumer: str, ids: Sequence[str]) -> None:
        if not ids:
            return
        with translated_errors():
            await self._redis.xclaim(self._stream, GROUP, consumer, 0, list(ids), justid=True)

    async def promote_due(self, now_ms: int) -> int:
        with translated_errors():
            moved: int = await self._promote(keys=[self._delayed, self._stream], args=[now_ms, 500])
        return moved

    async def depth(self) -> QueueDepth:
        await self._ensure_group()
        with translated_errors():
            groups = await self._redis.xinfo_groups(self._stream)
            delayed = await self._redis.zcard(self._delayed)
        group: dict[str, Any] = next((g for g in groups if g["name"] == GROUP), {})
        return QueueDepth(int(group.get("lag") or 0), int(group.get("pending") or 0), delayed)

    async def close(self) -> None:
        return None


def now_ms() -> int:
    return int(time.time() * 1000)
