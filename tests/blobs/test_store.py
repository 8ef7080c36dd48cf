"""The blob contract, on a local directory and on a real S3-compatible server."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.blobs import BlobNotFound, Blobs, open_blobs
from gateway.blobs.links import ImageLinks
from tests.support import Server, create_bucket


@pytest.fixture(params=["file", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Blobs]:
    if request.param == "file":
        yield open_blobs(f"file://{tmp_path}/blobs")
    else:
        server: Server = request.getfixturevalue("s3")
        yield open_blobs(create_bucket(server, f"b-{uuid.uuid4().hex[:12]}"))


async def test_put_get_size_delete(blobs: Blobs) -> None:
    await blobs.put("team/a/one.json", b'{"x": 1}')
    assert await blobs.get("team/a/one.json") == b'{"x": 1}'
    assert await blobs.size("team/a/one.json") == 8
    await blobs.put("team/a/one.json", b"replaced")
    assert await blobs.get("team/a/one.json") == b"replaced"
    await blobs.delete("team/a/one.json")
    assert await blobs.size("team/a/one.json") is None
    with pytest.raises(BlobNotFound):
        await blobs.get("team/a/one.json")
    await blobs.delete("team/a/one.json")  # deleting what is gone is not an error


async def test_large_object_streams_in_chunks(blobs: Blobs) -> None:
    data = bytes(range(256)) * (40 * 1024)  # 10 MiB: a multipart upload on S3
    await blobs.put("team/big.bin", io.BytesIO(data))
    received = bytearray()
    chunks = 0
    async for chunk in await blobs.stream("team/big.bin"):
        received += chunk
        chunks += 1
    assert bytes(received) == data
    assert chunks > 1


async def test_delete_prefix_removes_only_that_prefix(blobs: Blobs) -> None:
    for name in ("p/1", "p/2", "p/sub/3", "q/1"):
        await blobs.put(name, b"x")
    assert await blobs.delete_prefix("p") == 3
    assert await blobs.size("p/1") is None
    assert await blobs.size("q/1") == 1


async def test_delete_older_than_keeps_what_is_newer(blobs: Blobs) -> None:
    await blobs.put("images/old.png", b"o")
    cutoff = datetime.now(UTC) + timedelta(seconds=1)
    await asyncio.sleep(2.1)  # S3 dates are whole seconds: clear of the cutoff either way
    await blobs.put("images/new.png", b"n")
    await blobs.put("other/old.png", b"o")
    assert await blobs.delete_older_than("images", cutoff) == 1
    assert await blobs.size("images/old.png") is None
    assert await blobs.size("images/new.png") == 1


async def test_image_links_sweep_after_their_retention(blobs: Blobs) -> None:
    # 2 s, not 1: S3's whole-second dates must not make a fresh image look a second older.
    links = ImageLinks(blobs, b"k", ttl_seconds=2, retention_seconds=2)
    kept = await links.store(b"\x89PNG image")
    assert await links.open(kept.id) == b"\x89PNG image"
    assert await links.sweep() == 0  # still within its retention
    await asyncio.sleep(3.1)
    assert await links.sweep() == 1
    with pytest.raises(BlobNotFound):
        await links.open(kept.id)


def test_unknown_urls_are_refused() -> None:
    for url in ("ftp://x", "s3://", "s3://b/p?colour=red"):
        with pytest.raises(ValueError):
            open_blobs(url)


async def test_relative_file_url_is_a_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_blobs("file://.tiergate/blobs")
    await store.put("t/x", b"1")
    assert (tmp_path / ".tiergate" / "blobs" / "t" / "x").read_bytes() == b"1"
