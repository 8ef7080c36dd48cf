"""Redis client plumbing for the budget store: connections, timeouts, retries, errors, scripts."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any, TypeAlias
from urllib.parse import urlsplit, urlunsplit

from redis import exceptions as rx
from redis.asyncio import BlockingConnectionPool, Connection, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from gateway.budget.store import StoreError, StoreUnavailable

try:
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # optional: redis-py then parses and packs in Python
    _hiredis_pack = None  # type: ignore[assignment]

RedisClient: TypeAlias = Redis | RedisCluster

CONNECT_TIMEOUT_SECONDS = 1.0
OPERATION_TIMEOUT_SECONDS = 2.0
HEALTH_CHECK_INTERVAL_SECONDS = 30
DEFAULT_MAX_CONNECTIONS = 256
"""Per replica (per cluster node for clusters). A request holds a connection only for one
round trip, so a few dozen carry thousands of requests per second; 256 is above any one
replica's concurrent requests, so the blocking pool never makes a request wait. Tune with
`?max_connections=` in the URL."""

#: Lua files that get lib_v1.lua prepended.
_USES_LIBRARY = frozenset(
    {"reserve_v1", "settle_v2", "release_v2", "reap_v2", "charge_v1", "add_aggregates_v1"}
)

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    rx.ConnectionError,  # includes BusyLoadingError, AuthenticationError, MaxConnectionsError
    rx.TimeoutError,
    rx.ClusterDownError,  # includes MasterDownError
    rx.TryAgainError,
    rx.ReadOnlyError,  # failover in progress
    rx.OutOfMemoryError,
    rx.RedisClusterException,  # e.g. no reachable startup node
    OSError,
    asyncio.TimeoutError,
)


@functools.cache
def script_source(name: str) -> str:
    """Text of gateway/budget/lua/<name>.lua, with the shared helpers prepended if it uses them."""
    lua = resources.files("gateway.budget").joinpath("lua")
    text = lua.joinpath(f"{name}.lua").read_text(encoding="utf-8")
    if name in _USES_LIBRARY:
        text = lua.joinpath("lib_v1.lua").read_text(encoding="utf-8") + text
    return text


@contextmanager
def translated_errors() -> Iterator[None]:
    """Let no raw redis exception out: outages become StoreUnavailable, the rest StoreError."""
    try:
        yield
    except StoreError:
        raise
    except _UNAVAILABLE as exc:
        raise StoreUnavailable(f"budget store unavailable: {exc!r}") from exc
    except rx.RedisError as exc:
        raise StoreError(f"budget store error: {exc!r}") from exc


def _retry() -> Retry:
    # One quick retry on connection errors/timeouts. Every script is safe to run twice:
    # a repeated reserve replays, a repeated settle/release finds the tombstone.
    return Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.1), retries=1)


class HiredisPackConnection(Connection):
    """redis-py's asyncio connection packs commands in Python, re-joining its buffer for every
    argument: ~11% of a request's CPU here, where a reserve or settle carries ~60-100 arguments
    (ledger fields, aggregates). Its sync connection uses ``hiredis.pack_command`` when hiredis
    is installed; this does the same, with the same bytes (and the same first-argument split).
    """

    def pack_command(self, *args: Any) -> list[bytes]:
        if _hiredis_pack is None:
            return super().pack_command(*args)
        if isinstance(args[0], str):
            args = (*args[0].encode().split(), *args[1:])
        elif b" " in args[0]:
            args = (*args[0].split(), *args[1:])
        try:
            return [_hiredis_pack(args)]
        except TypeError as exc:
            raise rx.DataError(str(exc)) from exc


def connect(url: str) -> RedisClient:
    """Client for redis://, rediss://, unix:// or redis+cluster:// / rediss+cluster:// URLs.

    Creating it does no I/O; connections open on first use.
    """
    scheme = urlsplit(url).scheme
    common: dict[str, Any] = {
        "decode_responses": True,
        "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "socket_timeout": OPERATION_TIMEOUT_SECONDS,
        "health_check_interval": HEALTH_CHECK_INTERVAL_SECONDS,
        "retry": _retry(),
    }
    if scheme in ("redis+cluster", "rediss+cluster"):
        plain = urlunsplit(urlsplit(url)._replace(scheme=scheme.removesuffix("+cluster")))
        return RedisCluster.from_url(plain, max_connections=DEFAULT_MAX_CONNECTIONS, **common)
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=DEFAULT_MAX_CONNECTIONS,
        **({"connection_class": HiredisPackConnection} if scheme == "redis" else {}),
        timeout=OPERATION_TIMEOUT_SECONDS,  # wait for a free connection, then fail
        **common,
    )
    return Redis.from_pool(pool)
