"""``BatchState`` on Redis: one hash per file and batch, sorted sets for listing.

Keys (every one of a team's in its ``{team}`` hash slot)::

    <prefix>:{team}:file:<id>           hash   the FileObject's fields
    <prefix>:{team}:files               zset   file ids by creation (µs)
    <prefix>:{team}:batch:<id>          hash   the batch's fields and counters
    <prefix>:{team}:batch:<id>:items    hash   input line -> completed | failed
    <prefix>:{team}:batches             zset   batch ids by creation (µs)

Batch and file records carry no TTL: they are the team's history, removed with
``DELETE /v1/files/{id}`` (files) or by an operator (batches).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Collection, Mapping
from importlib import resources
from typing import Any

from gateway.batch.models import FileObject
from gateway.batch.state import Fields, ItemRecorded
from gateway.budget.redis_client import connect, translated_errors


@functools.cache
def lua(name: str) -> str:
    return resources.files("gateway.batch").joinpath("lua", f"{name}.lua").read_text("utf-8")


class RedisBatchState:
    def __init__(self, url: str, key_prefix: str = "tg", client: Any = None) -> None:
        self._redis: Any = client if client is not None else connect(url)
        self._prefix = key_prefix
        self._transition = self._redis.register_script(lua("batch_transition_v1"))
        self._record = self._redis.register_script(lua("batch_record_item_v1"))

    def _key(self, team: str, *parts: str) -> str:
        return ":".join((self._prefix, f"{{{team}}}", *parts))

    async def save_file(self, team: str, file: FileObject) -> None:
        fields = {k: str(v) for k, v in file.model_dump(exclude_none=True).items()}
        with translated_errors():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(self._key(team, "file", file.id), mapping=fields)
                # Microseconds, so files made in the same second still list newest first.
                pipe.zadd(self._key(team, "files"), {file.id: time.time_ns() // 1000}, nx=True)
                await pipe.execute()

    async def get_file(self, team: str, file_id: str) -> FileObject | None:
        with translated_errors():
            fields = await self._redis.hgetall(self._key(team, "file", file_id))
        return FileObject.model_validate(fields) if fields else None

    async def delete_file(self, team: str, file_id: str) -> bool:
        with translated_errors():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(self._key(team, "file", file_id))
                pipe.zrem(self._key(team, "files"), file_id)
                deleted, _ = await pipe.execute()
        return bool(deleted)

    async def list_files(
        self, team: str, after: str | None, limit: int
    ) -> tuple[list[FileObject], bool]:
        ids = await self._page(self._key(team, "files"), after, limit + 1)
        files = [await self.get_file(team, i) for i in ids[:limit]]
        return [f for f in files if f is not None], len(ids) > limit

    async def create_batch(self, team: str, batch_id: str, fields: Mapping[str, str]) -> None:
        with translated_errors():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(self._key(team, "batch", batch_id), mapping=dict(fields))
                pipe.zadd(self._key(team, "batches"), {batch_id: time.time_ns() // 1000})
                await pipe.execute()

    async def get_batch(self, team: str, batch_id: str) -> Fields | None:
        with translated_errors():
            fields: Fields = await self._redis.hgetall(self._key(team, "batch", batch_id))
        return fields or None

    async def list_batches(
        self, team: str, after: str | None, limit: int
    ) -> tuple[list[Fields], bool]:
        ids = await self._page(self._key(team, "batches"), after, limit + 1)
        found = [await self.get_batch(team, i) for i in ids[:limit]]
        return [b for b in found if b is not None], len(ids) > limit

    async def transition(
        self,
        team: str,
        batch_id: str,
        allowed: Collection[str] | None,
        fields: Mapping[str, str],
    ) -> bool:
        args: list[str] = [",".join(allowed) if allowed is not None else "*"]
        for name, value in fields.items():
            args += (name, value)
        with translated_errors():
            done = await self._transition(keys=[self._key(team, "batch", batch_id)], args=args)
        return bool(done)

    async def record_item(
        self, team: str, batch_id: str, line: int, outcome: str, cost_micros: int
    ) -> ItemRecorded:
        keys = [self._key(team, "batch", batch_id), self._key(team, "batch", batch_id, "items")]
        with translated_errors():
            first, completed, failed, total = await self._record(
                keys=keys, args=[line, outcome, cost_micros]
            )
        return ItemRecorded(bool(first), int(completed), int(failed), int(total))

    async def item_outcomes(self, team: str, batch_id: str) -> dict[int, str]:
        with translated_errors():
            raw = await self._redis.hgetall(self._key(team, "batch", batch_id, "items"))
        return {int(line): outcome for line, outcome in raw.items()}

    async def _page(self, key: str, after: str | None, count: int) -> list[str]:
        with translated_errors():
            start = 0
            if after is not None:
                rank = await self._redis.zrevrank(key, after)
                if rank is None:
                    return []
                start = rank + 1
            ids: list[str] = await self._redis.zrevrange(key, start, start + count - 1)
        return ids

    async def close(self) -> None:
        await self._redis.aclose()
