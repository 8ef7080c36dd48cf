"""Images handed out as URLs: stored in the blob store, fetched back with an expiring signature.

An image answered with ``response_format: "url"`` is written under ``images/<id>``, where
the id is 192 random bits (``img_<token>.<ext>``): nobody can list the images or guess one.
Its URL is ``<base>/v1/images/content/<id>?expires=<unix>&sig=<HMAC-SHA256>``: no API key is
needed to fetch it (as with OpenAI's URLs), and a link past its expiry or with any part
changed is refused (403). The object itself lives ``retention_seconds`` (at least the link's
lifetime), after which ``sweep`` removes it.

The signing key is ``TIERGATE_URL_SIGNING_KEY``. Unset, each process makes a random one: its
links then work only on the replica that made them and until it restarts.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from gateway.blobs.store import BlobNotFound, Blobs

log = structlog.get_logger("gateway.blobs.links")

PREFIX = "images"
MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
_ID = re.compile(r"img_[A-Za-z0-9_-]{32}\.(png|jpeg|webp)")


class LinkRefused(Exception):
    """The link is malformed, tampered with or expired (the reason is for the log only)."""


@dataclass(frozen=True, slots=True)
class StoredImage:
    id: str
    expires_at: int


class ImageLinks:
    def __init__(
        self,
        blobs: Blobs,
        secret: bytes | None,
        *,
        ttl_seconds: int = 3600,
        retention_seconds: int = 3600,
    ) -> None:
        if secret is None:
            log.warning(
                "url_signing_key_generated",
                detail="TIERGATE_URL_SIGNING_KEY is unset: image links work only on this "
                "process and until it restarts",
            )
            secret = secrets.token_bytes(32)
        self.blobs = blobs
        self._secret = secret
        self.ttl_seconds = ttl_seconds
        self.retention_seconds = max(retention_seconds, ttl_seconds)

    def _signature(self, image_id: str, expires_at: int) -> str:
        mac = hmac.new(self._secret, f"{image_id}:{expires_at}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")

    async def store(self, data: bytes, output_format: str = "png") -> StoredImage:
        """Keep one image and return its id and when its link expires."""
        ext = output_format if output_format in MEDIA_TYPES else "png"
        image_id = f"img_{secrets.token_urlsafe(24)}.{ext}"
        await self.blobs.put(f"{PREFIX}/{image_id}", data)
        return StoredImage(image_id, int(time.time()) + self.ttl_seconds)

    def url(self, base_url: str, image: StoredImage) -> str:
        sig = self._signature(image.id, image.expires_at)
        return (
            f"{base_url.rstrip('/')}/v1/images/content/{image.id}"
            f"?expires={image.expires_at}&sig={sig}"
        )

    def check(self, image_id: str, expires: str | None, sig: str | None) -> int:
        """Seconds the link has left; ``LinkRefused`` unless it is whole, signed and live."""
        if not _ID.fullmatch(image_id) or not expires or not sig:
            raise LinkRefused("malformed")
        if not (expires.isascii() and expires.isdigit() and len(expires) <= 12):
            raise LinkRefused("malformed")
        expected = self._signature(image_id, int(expires))
        if not hmac.compare_digest(expected.encode(), sig.encode("utf-8", "replace")):
            raise LinkRefused("signature")
        left = int(expires) - int(time.time())
        if left <= 0:
            raise LinkRefused("expired")
        return left

    async def open(self, image_id: str) -> bytes:
        """The image's bytes (``BlobNotFound`` once retention removed it)."""
        return await self.blobs.get(f"{PREFIX}/{image_id}")

    @staticmethod
    def media_type(image_id: str) -> str:
        return MEDIA_TYPES[image_id.rsplit(".", 1)[-1]]

    async def sweep(self) -> int:
        """Remove the images older than the retention; returns how many."""
        cutoff = datetime.now(UTC) - timedelta(seconds=self.retention_seconds)
        return await self.blobs.delete_older_than(PREFIX, cutoff)

    async def run_sweeper(self, stop: asyncio.Event, interval_seconds: float) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_seconds)
            if stop.is_set():
                return
            try:
                removed = await self.sweep()
            except Exception:  # a store outage: try again at the next interval
                log.warning("image_sweep_failed", exc_info=True)
                continue
            if removed:
                log.info("images_swept", removed=removed)


__all__ = ["BlobNotFound", "ImageLinks", "LinkRefused", "StoredImage"]
