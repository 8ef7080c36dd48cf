"""The policy in force, swapped whole and atomically when its file changes.

``LivePolicy`` holds one ``Active``: the validated ``Policy``, the SHA-256 of the file it came
from, and what the process builds from it (``parts``: the key ring and the image service for
the gateway). A reload reads and validates the file, builds new parts and replaces the
reference in one assignment; a request that took ``current`` before the swap finishes with
what it took. A file that does not validate leaves the old policy in force and is kept as
``last_error`` (path-named lines) until a good file replaces it.

Triggers: ``reload()`` (SIGHUP, ``POST /v1/admin/policy/reload``) and ``watch()``, which polls
the file's identity once a ``interval_seconds`` and its content hash when that changes (a
Kubernetes ConfigMap is a symlink swap, which inotify on the file itself would miss).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Literal, TypeVar

import structlog

from gateway.policy.loader import PolicyError, load_policy_text, read_policy_text
from gateway.policy.schema import Policy

log = structlog.get_logger("gateway.policy.live")

Parts = TypeVar("Parts")
Trigger = Literal["start", "signal", "watch", "admin"]


def content_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def policy_digest(policy: Policy) -> str:
    """For a policy given as an object (tests, embedders): the hash of its canonical JSON."""
    return hashlib.sha256(policy.model_dump_json().encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Active(Generic[Parts]):
    policy: Policy
    digest: str
    parts: Parts
    loaded_at: float

    @property
    def short_digest(self) -> str:
        """The first 12 hex digits: what log lines and headers carry."""
        return self.digest[:12]


@dataclass(frozen=True, slots=True)
class ReloadError:
    source: str
    errors: tuple[str, ...]
    digest: str | None
    at: float
    trigger: Trigger


@dataclass(frozen=True, slots=True)
class ReloadResult:
    status: Literal["reloaded", "unchanged", "failed"]
    digest: str
    error: ReloadError | None = None


def _identity(path: Path) -> tuple[int, int, int, int] | None:
    try:
        info = path.stat()  # follows symlinks: a ConfigMap's swapped target shows
    except OSError:
        return None
    return (info.st_ino, info.st_dev, info.st_size, info.st_mtime_ns)


class LivePolicy(Generic[Parts]):
    def __init__(
        self,
        policy: Policy,
        build: Callable[[Policy], Parts],
        *,
        path: Path | str | None = None,
        text: str | None = None,
    ) -> None:
        """``path``: the file to reload from (None: the policy was given as an object and
        cannot be reloaded); ``text``: its content at start, for the digest."""
        self.path = Path(path) if path is not None else None
        self._build = build
        digest = content_digest(text) if text is not None else policy_digest(policy)
        self._active = Active(policy, digest, build(policy), time.time())
        self._identity = _identity(self.path) if self.path is not None else None
        self.last_error: ReloadError | None = None
        self.reloads = {"ok": 0, "failed": 0}
        self._listeners: list[Callable[[Active[Parts]], None]] = []

    @property
    def current(self) -> Active[Parts]:
        return self._active

    def on_swap(self, listener: Callable[[Active[Parts]], None]) -> None:
        """Called with the new ``Active`` after each swap (for what caches the policy)."""
        self._listeners.append(listener)

    def reload(self, trigger: Trigger) -> ReloadResult:
        """Read, validate and swap in the file; never raises for a bad file."""
        if self.path is None:
            error = ReloadError(
                "<policy object>", ("no policy file to reload from",), None, time.time(), trigger
            )
            return self._failed(error)
        self._identity = _identity(self.path)
        try:
            text = read_policy_text(self.path)
        except PolicyError as exc:
            return self._failed(
                ReloadError(exc.source, tuple(exc.errors), None, time.time(), trigger)
            )
        digest = content_digest(text)
        if digest == self._active.digest:
            self.last_error = None
            return ReloadResult("unchanged", digest)
        try:
            policy = load_policy_text(text, source=str(self.path))
            parts = self._build(policy)
        except PolicyError as exc:
            return self._failed(
                ReloadError(exc.source, tuple(exc.errors), digest, time.time(), trigger)
            )
        except Exception as exc:  # e.g. a classifier lexicon that does not compile
            log.exception("policy_build_failed", path=str(self.path))
            return self._failed(
                ReloadError(
                    str(self.path),
                    (f"(root): {type(exc).__name__}: {exc}",),
                    digest,
                    time.time(),
                    trigger,
                )
            )
        previous = self._active
        self._active = Active(policy, digest, parts, time.time())
        self.last_error = None
        self.reloads["ok"] += 1
        log.info(
            "policy_reloaded",
            trigger=trigger,
            path=str(self.path),
            policy=self._active.short_digest,
            previous=previous.short_digest,
        )
        for listener in self._listeners:
            listener(self._active)
        return ReloadResult("reloaded", digest)

    def _failed(self, error: ReloadError) -> ReloadResult:
        self.last_error = error
        self.reloads["failed"] += 1
        log.error(
            "policy_reload_failed",
            trigger=error.trigger,
            path=error.source,
            errors=list(error.errors),
            policy=self._active.short_digest,
        )
        return ReloadResult("failed", self._active.digest, error)

    def changed_on_disk(self) -> bool:
        return self.path is not None and _identity(self.path) != self._identity

    async def watch(self, stop: asyncio.Event, interval_seconds: float = 1.0) -> None:
        """Reload whenever the file changes, until ``stop`` is set."""
        if self.path is None or interval_seconds <= 0:
            return
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_seconds)
            if not stop.is_set() and self.changed_on_disk():
                self.reload("watch")

    def install_sighup(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Reload on SIGHUP; False where signals cannot be handled (not the main thread)."""
        import signal

        if not hasattr(signal, "SIGHUP"):
            return False
        try:
            loop.add_signal_handler(signal.SIGHUP, self.reload, "signal")
        except (RuntimeError, ValueError, NotImplementedError):
            return False
        return True

    def remove_sighup(self, loop: asyncio.AbstractEventLoop) -> None:
        import signal

        with contextlib.suppress(RuntimeError, ValueError, NotImplementedError, AttributeError):
            loop.remove_signal_handler(signal.SIGHUP)


def read_policy_file(path: Path | str) -> tuple[Policy, str]:
    """The policy and its text, for a ``LivePolicy`` that starts from a file."""
    path = Path(path)
    text = read_policy_text(path)
    return load_policy_text(text, source=str(path)), text


__all__ = [
    "Active",
    "LivePolicy",
    "ReloadError",
    "ReloadResult",
    "content_digest",
    "policy_digest",
    "read_policy_file",
]
