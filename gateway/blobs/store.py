"""``Blobs``: put, get, stream, delete and size of named byte objects in one store.

Keys are ``/``-separated paths chosen by tiergate (never by a client); every key a team
owns starts with that team's name, so one team's objects are never under another's.

URLs:

- ``file://DIR``: a local directory (relative or absolute), created if missing.
- ``s3://BUCKET/PREFIX?endpoint=URL&region=R``: an S3-compatible service. Credentials come
  from the standard ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` variables (or the
  instance's role); ``endpoint`` is for MinIO, Ceph, R2 and test servers (``http://``
  endpoints are allowed only when named).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

import obstore
from obstore.store import LocalStore, S3Store

#: Pieces handed to an S3 multipart upload (S3's minimum part is 5 MiB).
CHUNK_BYTES = 8 * 1024 * 1024


class BlobNotFound(KeyError):
    """No object under that key."""


class Blobs:
    """One object store; all methods are async and safe to share across tasks."""

    def __init__(self, store: Any, url: str) -> None:
        self._store = store
        self.url = url

    async def put(
        self, key: str, data: bytes | IO[bytes] | Iterable[bytes] | AsyncIterable[bytes]
    ) -> None:
        """Write ``data`` (bytes, a binary file, byte chunks or an async stream of them)
        under ``key``, replacing it."""
        await obstore.put_async(self._store, key, data, chunk_size=CHUNK_BYTES)

    async def get(self, key: str) -> bytes:
        try:
            result = await obstore.get_async(self._store, key)
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        return bytes(await result.bytes_async())

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        """The object's bytes in chunks, without holding all of it in memory."""
        try:
            result = await obstore.get_async(self._store, key)
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        return _chunks(result)

    async def size(self, key: str) -> int | None:
        """The object's size in bytes, or None if there is none."""
        try:
            meta = await obstore.head_async(self._store, key)
        except FileNotFoundError:
            return None
        return int(meta["size"])

    async def delete(self, key: str) -> None:
        """Remove ``key``; removing what is not there is not an error."""
        with contextlib.suppress(FileNotFoundError):
            await obstore.delete_async(self._store, key)

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object under ``prefix/``; returns how many."""
        removed = 0
        async for page in obstore.list(self._store, prefix.rstrip("/") + "/"):
            paths = [entry["path"] for entry in page]
            if paths:
                await obstore.delete_async(self._store, paths)
                removed += len(paths)
        return removed

    async def delete_older_than(self, prefix: str, cutoff: datetime) -> int:
        """Remove every object under ``prefix/`` last written before ``cutoff``."""
        removed = 0
        async for page in obstore.list(self._store, prefix.rstrip("/") + "/"):
            paths = [entry["path"] for entry in page if entry["last_modified"] < cutoff]
            if paths:
                await obstore.delete_async(self._store, paths)
                removed += len(paths)
        return removed


async def _chunks(result: Any) -> AsyncIterator[bytes]:
    async for chunk in result.stream(min_chunk_size=256 * 1024):
        yield bytes(chunk)


def open_blobs(url: str) -> Blobs:
    """The store a ``file://`` or ``s3://`` URL names (ValueError for anything else)."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        # file://relative/dir keeps "relative" as the netloc; file:///abs/dir has none.
        directory = Path(parts.netloc + parts.path) if parts.netloc else Path(parts.path)
        directory.mkdir(parents=True, exist_ok=True)
        return Blobs(LocalStore(directory.resolve()), url)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"blob store URL {url!r} names no bucket (s3://BUCKET/PREFIX)")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"endpoint", "region"}
        if unknown:
            raise ValueError(f"blob store URL {url!r}: unknown options {sorted(unknown)}")
        config: dict[str, Any] = {}
        if "region" in query:
            config["region"] = query["region"]
        client_options: Any = {}
        endpoint = query.get("endpoint")
        if endpoint:
            config["endpoint"] = endpoint
            client_options["allow_http"] = endpoint.startswith("http://")
        store = S3Store(
            parts.netloc,
            prefix=parts.path.strip("/") or None,
            client_options=client_options or None,
            **config,
        )
        return Blobs(store, url)
    raise ValueError(f"unsupported blob store URL {url!r}; use file://DIR or s3://BUCKET/PREFIX")
