"""A local spend journal: settles that could not reach the store, replayed when it returns.

Each worker appends JSON lines to its own file (``journal-<pid>.jsonl``) and
fsyncs them, so a crash loses nothing that was written. The replayer settles
each record's reservation if the store still holds it, and otherwise records the
spend with the store's idempotent ``charge`` (the store lost the reservation, or
it was admitted locally while the store was down). Replaying twice is harmless:
settle and charge are both idempotent by id. Files of workers that no longer
run are replayed too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import structlog

from gateway.budget.store import Aggregates, BudgetStore, StoreError, StoreOptions, Window

log = structlog.get_logger("gateway.admission.journal")


@dataclass(frozen=True, slots=True)
class SpendRecord:
    team: str
    reservation_id: str
    amount_micros: int
    now_ms: int
    windows: tuple[Window, ...]
    ledger: dict[str, str]
    aggregates: Aggregates | None
    if_reaped: dict[str, int] = field(default_factory=dict)
    local: bool = False
    """Admitted by the replica alone while the store was down: the store never held it."""

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "team": self.team,
                "reservation_id": self.reservation_id,
                "amount_micros": self.amount_micros,
                "now_ms": self.now_ms,
                "windows": [
                    [w.scope, w.period, w.bucket, w.limit_micros, w.ttl_seconds]
                    for w in self.windows
                ],
                "ledger": self.ledger,
                "aggregates": None
                if self.aggregates is None
                else [
                    self.aggregates.bucket,
                    dict(self.aggregates.increments),
                    self.aggregates.ttl_seconds,
                ],
                "if_reaped": self.if_reaped,
                "local": self.local,
            }
        )

    @classmethod
    def from_json(cls, line: bytes) -> SpendRecord:
        data: dict[str, Any] = orjson.loads(line)
        aggregates = data.get("aggregates")
        return cls(
            team=data["team"],
            reservation_id=data["reservation_id"],
            amount_micros=int(data["amount_micros"]),
            now_ms=int(data["now_ms"]),
            windows=tuple(Window(*w) for w in data["windows"]),
            ledger=dict(data["ledger"]),
            if_reaped={str(k): int(v) for k, v in (data.get("if_reaped") or {}).items()},
            local=bool(data.get("local", False)),
            aggregates=None
            if aggregates is None
            else Aggregates(aggregates[0], aggregates[1], int(aggregates[2])),
        )


class SpendJournal:
    def __init__(
        self,
        directory: Path,
        *,
        settled_marker_ttl_seconds: float = StoreOptions().settled_marker_ttl_seconds,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.directory = directory
        self.path = directory / f"journal-{os.getpid()}.jsonl"
        self.settled_marker_ttl_ms = int(settled_marker_ttl_seconds * 1000)
        self.clock_ms = clock_ms
        self._lock = asyncio.Lock()

    def append(self, record: SpendRecord) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, record.to_json() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        log.warning(
            "spend_journaled",
            team=record.team,
            reservation_id=record.reservation_id,
            amount_micros=record.amount_micros,
        )

    def pending_files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return [
            p
            for p in sorted(self.directory.glob("journal-*.jsonl"))
            if p == self.path or not _pid_alive(p)
        ]

    def pending(self) -> int:
        return sum(len(p.read_bytes().splitlines()) for p in self.pending_files())

    async def replay(self, store: BudgetStore) -> int:
        """Replay every pending record; returns how many reached the store."""
        replayed = 0
        async with self._lock:
            for path in self.pending_files():
                raw = path.read_bytes()
                lines = [line for line in raw.splitlines() if line.strip()]
                done = 0
                try:
                    for line in lines:
                        await replay_record(
                            store,
                            SpendRecord.from_json(line),
                            now_ms=self.clock_ms(),
                            settled_marker_ttl_ms=self.settled_marker_ttl_ms,
                        )
                        done += 1
                finally:
                    # `append` may have added records while the store calls were awaited;
                    # they are past the bytes read above and must survive the rewrite.
                    _rewrite(path, lines[done:], read_bytes=len(raw))
                replayed += done
        if replayed:
            log.info("journal_replayed", records=replayed)
        return replayed


async def replay_record(
    store: BudgetStore, record: SpendRecord, *, now_ms: int, settled_marker_ttl_ms: int
) -> None:
    """Settle the record's reservation, or charge its spend if the store never held it.

    A settle that failed may still have been applied (the reply was lost). The store then
    remembers it as settled for ``settled_marker_ttl_ms``; after that it answers
    ``unknown_reservation`` exactly as if it had never seen the reservation. So a record of a
    reservation the store held is charged only while that memory lasts; an older one is
    logged for reconciliation instead of risking a second charge.
    """
    result = await store.settle(
        record.team,
        record.reservation_id,
        record.amount_micros,
        record.now_ms,
        ledger=record.ledger,
        aggregates=record.aggregates,
    )
    if result.outcome == "corrected_after_reap" and record.if_reaped:
        negated = {name: -value for name, value in record.if_reaped.items()}
        if record.aggregates is not None:
            await store.add_aggregates(
                record.team,
                Aggregates(record.aggregates.bucket, negated, record.aggregates.ttl_seconds),
            )
    if result.outcome != "unknown_reservation":
        return
    if not record.local and now_ms - record.now_ms >= settled_marker_ttl_ms:
        log.error(
            "journal_record_ambiguous",
            team=record.team,
            reservation_id=record.reservation_id,
            amount_micros=record.amount_micros,
            journaled_at_ms=record.now_ms,
            reason="the store no longer knows whether this settle was applied; not charged",
        )
        return
    await store.charge(
        record.team,
        record.reservation_id,
        record.windows,
        record.amount_micros,
        record.now_ms,
        ledger={**record.ledger, "journaled": "1"},
        aggregates=record.aggregates,
    )


async def run_replayer(
    journal: SpendJournal, store: BudgetStore, interval_seconds: float, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_seconds)
        if journal.pending_files() and await store.ping():
            with contextlib.suppress(StoreError):
                await journal.replay(store)


def _rewrite(path: Path, remaining: list[bytes], read_bytes: int) -> None:
    """Replace ``path`` by the records not replayed plus whatever was appended after the
    first ``read_bytes`` were read. No await in here: ``append`` (same event loop) cannot
    run in between."""
    try:
        appended = path.read_bytes()[read_bytes:]
    except FileNotFoundError:
        appended = b""
    kept = [*remaining, *(line for line in appended.splitlines() if line.strip())]
    if not kept:
        path.unlink(missing_ok=True)
        return
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, b"\n".join(kept) + b"\n")
        os.fsync(fd)  # as durable as the appends it replaces
    finally:
        os.close(fd)
    os.replace(temporary, path)


def _pid_alive(path: Path) -> bool:
    try:
        pid = int(path.stem.removeprefix("journal-"))
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True
