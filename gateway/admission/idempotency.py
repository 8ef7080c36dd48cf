"""``Idempotency-Key``: the same team, key and body within the TTL return the first response.

The first request claims the key (``SET NX``) and runs; a concurrent duplicate
waits for it and replays its stored response, so the backend is called and the
budget charged once. A different body under the same key is a 409
``idempotency_key_reused``. Failures free the key so a retry can run again. The claim
names its request: storing the response or freeing the key happens only while the claim
is still that request's, so a request can never overwrite or free another's claim.
Stored responses are capped (``max_response_bytes``); a larger one is remembered
without its body, and replaying it answers 409 ``idempotency_response_too_large``
rather than calling the backend a second time.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from gateway.errors import IdempotencyConflict, InvalidRequest, StoreUnavailable

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255
DEFAULT_TTL_SECONDS = 24 * 3600
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    headers: dict[str, str]
    body: bytes | None  # None: the response was larger than the cap


class IdempotencyBackend(Protocol):
    async def claim(self, key: str, record: bytes, ttl_seconds: float) -> bytes | None:
        """Store ``record`` if ``key`` is free and return None; else return the current record."""
        ...

    async def get(self, key: str) -> bytes | None: ...

    async def finish(
        self, key: str, claim: bytes, record: bytes | None, ttl_seconds: float
    ) -> bool:
        """If ``key`` still holds ``claim``: store ``record`` (or delete the key when None)
        and return True; else change nothing and return False."""
        ...

    async def close(self) -> None: ...


class MemoryIdempotencyBackend:
    def __init__(self) -> None:
        self._records: dict[str, tuple[bytes, float]] = {}

    def _live(self, key: str) -> bytes | None:
        found = self._records.get(key)
        if found is None:
            return None
        if found[1] < time.monotonic():
            del self._records[key]
            return None
        return found[0]

    async def claim(self, key: str, record: bytes, ttl_seconds: float) -> bytes | None:
        current = self._live(key)
        if current is not None:
            return current
        self._records[key] = (record, time.monotonic() + ttl_seconds)
        return None

    async def get(self, key: str) -> bytes | None:
        return self._live(key)

    async def finish(
        self, key: str, claim: bytes, record: bytes | None, ttl_seconds: float
    ) -> bool:
        if self._live(key) != claim:
            return False
        if record is None:
            del self._records[key]
        else:
            self._records[key] = (record, time.monotonic() + ttl_seconds)
        return True

    async def close(self) -> None:
        self._records.clear()


class RedisIdempotencyBackend:
    def __init__(self, url: str) -> None:
        from redis.asyncio import Redis, RedisCluster
        from redis.exceptions import RedisError

        from gateway.budget.redis_client import CONNECT_TIMEOUT_SECONDS, script_source

        scheme = url.split("://", 1)[0]
        plain = url.replace("+cluster://", "://", 1)
        options: dict[str, Any] = {
            "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "socket_timeout": 5.0,
        }
        self._client: Any = (
            RedisCluster.from_url(plain, **options)
            if scheme.endswith("+cluster")
            else Redis.from_url(plain, **options)
        )
        self._errors = RedisError
        self._finish = self._client.register_script(script_source("idempotency_finish_v1"))

    async def _run(self, coro: Any) -> Any:
        try:
            return await coro
        except self._errors as exc:
            raise StoreUnavailable(
                "The idempotency store is unavailable; try again shortly."
            ) from exc

    async def claim(self, key: str, record: bytes, ttl_seconds: float) -> bytes | None:
        created = await self._run(
            self._client.set(key, record, nx=True, px=int(ttl_seconds * 1000))
        )
        if created:
            return None
        current: bytes | None = await self._run(self._client.get(key))
        return current if current is not None else await self.claim(key, record, ttl_seconds)

    async def get(self, key: str) -> bytes | None:
        value: bytes | None = await self._run(self._client.get(key))
        return value

    async def finish(
        self, key: str, claim: bytes, record: bytes | None, ttl_seconds: float
    ) -> bool:
        done = await self._run(
            self._finish(keys=[key], args=[claim, record or b"", int(ttl_seconds * 1000)])
        )
        return bool(done)

    async def close(self) -> None:
        await self._client.aclose()


def open_idempotency_backend(url: str) -> IdempotencyBackend:
    return (
        MemoryIdempotencyBackend() if url.startswith("memory://") else RedisIdempotencyBackend(url)
    )


def validate_key(value: str) -> str:
    if not value or len(value) > MAX_KEY_LENGTH or not value.isprintable():
        raise InvalidRequest(
            f"Invalid 'Idempotency-Key': 1 to {MAX_KEY_LENGTH} printable characters.",
            param="Idempotency-Key",
        )
    return value


class Idempotency:
    def __init__(
        self,
        backend: IdempotencyBackend,
        *,
        key_prefix: str = "tg",
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        poll_seconds: float = 0.05,
    ) -> None:
        self.backend = backend
        self.key_prefix = key_prefix
        self.ttl_seconds = ttl_seconds
        self.max_response_bytes = max_response_bytes
        self.poll_seconds = poll_seconds

    def storage_key(self, team: str, key: str) -> str:
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return f"{self.key_prefix}:{{{team}}}:idem:{digest}"

    @staticmethod
    def claim_record(body: bytes, owner: str) -> bytes:
        return orjson.dumps(
            {"state": "in_flight", "body": hashlib.sha256(body).hexdigest(), "owner": owner}
        )

    async def begin(
        self, team: str, key: str, body: bytes, in_flight_seconds: float, owner: str
    ) -> StoredResponse | None:
        """Claim the key for request ``owner`` (None: the caller runs the request) or return
        the first response to replay."""
        storage_key = self.storage_key(team, key)
        body_hash = hashlib.sha256(body).hexdigest()
        claim = self.claim_record(body, owner)
        deadline = time.monotonic() + in_flight_seconds
        while True:
            current = await self.backend.claim(storage_key, claim, in_flight_seconds)
            if current is None:
                return None
            record = orjson.loads(current)
            if record["body"] != body_hash:
                raise IdempotencyConflict(
                    "This Idempotency-Key was already used with a different request body.",
                    param="Idempotency-Key",
                )
            if record["state"] == "done":
                return _stored(record)
            if time.monotonic() > deadline:
                raise IdempotencyConflict(
                    "A request with this Idempotency-Key is still in progress.",
                    param="Idempotency-Key",
                    code="idempotency_key_in_progress",
                )
            await asyncio.sleep(self.poll_seconds)

    async def complete(
        self,
        team: str,
        key: str,
        body: bytes,
        status: int,
        headers: Mapping[str, str],
        response_body: bytes,
        owner: str,
    ) -> bool:
        """Store the response for replays; False if the claim was no longer ``owner``'s."""
        too_large = len(response_body) > self.max_response_bytes
        record = {
            "state": "done",
            "body": hashlib.sha256(body).hexdigest(),
            "status": status,
            "headers": dict(headers),
            "response": None if too_large else response_body.decode(),
        }
        return await self.backend.finish(
            self.storage_key(team, key),
            self.claim_record(body, owner),
            orjson.dumps(record),
            self.ttl_seconds,
        )

    async def abandon(self, team: str, key: str, body: bytes, owner: str) -> bool:
        """Free the key for a retry; False if the claim was no longer ``owner``'s."""
        return await self.backend.finish(
            self.storage_key(team, key), self.claim_record(body, owner), None, 0
        )

    async def close(self) -> None:
        await self.backend.close()


def _stored(record: dict[str, Any]) -> StoredResponse:
    response = record.get("response")
    return StoredResponse(
        status=int(record["status"]),
        headers=dict(record.get("headers") or {}),
        body=response.encode() if response is not None else None,
    )
