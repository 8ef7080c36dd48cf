"""The allowance one replica gives itself while the budget store is down and it fails open."""

from __future__ import annotations


class LocalCap:
    """The small per-replica allowance used while failing open: concurrency and requests/minute."""

    def __init__(self, max_concurrent: int, requests_per_minute: int) -> None:
        self.max_concurrent = max_concurrent
        self.requests_per_minute = requests_per_minute
        self.in_flight = 0
        self._minute = -1
        self._count = 0

    def try_acquire(self, now_ms: int) -> bool:
        minute = now_ms // 60_000
        if minute != self._minute:
            self._minute, self._count = minute, 0
        if self.in_flight >= self.max_concurrent or self._count >= self.requests_per_minute:
            return False
        self.in_flight += 1
        self._count += 1
        return True

    def release(self) -> None:
        self.in_flight = max(0, self.in_flight - 1)
