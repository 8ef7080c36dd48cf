"""Where batches and files are recorded: the ``BatchState`` contract and its memory backend.

A batch is a flat record of string fields (its OpenAI fields plus tiergate's own:
``team``, ``key_id``, ``total``, ``completed``, ``failed``, ``spent_micros``…) and a map
from input line to outcome. Every change that must not race is one atomic step: a status
transition happens only from the statuses named (``transition``), and an item's outcome is
recorded, counted and costed once however many workers finish it (``record_item``).
Records are always looked up by (team, id): another team's id does not exist.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Protocol

from gateway.batch.models import FileObject

Fields = dict[str, str]


@dataclass(frozen=True, slots=True)
class ItemRecorded:
    first: bool
    """True if this call recorded the outcome; False if the line already had one."""
    completed: int
    failed: int
    total: int

    @property
    def all_done(self) -> bool:
        return self.total > 0 and self.completed + self.failed >= self.total


class BatchState(Protocol):
    async def save_file(self, team: str, file: FileObject) -> None: ...

    async def get_file(self, team: str, file_id: str) -> FileObject | None: ...

    async def delete_file(self, team: str, file_id: str) -> bool: ...

    async def list_files(
        self, team: str, after: str | None, limit: int
    ) -> tuple[list[FileObject], bool]:
        """Newest first, starting after ``after``; and whether more follow."""
        ...

    async def create_batch(self, team: str, batch_id: str, fields: Mapping[str, str]) -> None: ...

    async def get_batch(self, team: str, batch_id: str) -> Fields | None: ...

    async def list_batches(
        self, team: str, after: str | None, limit: int
    ) -> tuple[list[Fields], bool]: ...

    async def transition(
        self,
        team: str,
        batch_id: str,
        allowed: Collection[str] | None,
        fields: Mapping[str, str],
    ) -> bool:
        """Set ``fields`` if the batch's status is in ``allowed`` (None: any); atomically."""
        ...

    async def record_item(
        self, team: str, batch_id: str, line: int, outcome: str, cost_micros: int
    ) -> ItemRecorded: ...

    async def item_outcomes(self, team: str, batch_id: str) -> dict[int, str]: ...

    async def close(self) -> None: ...


class MemoryBatchState:
    """One process's batches (``memory://``): for the demo and unit tests."""

    def __init__(self) -> None:
        self._files: dict[tuple[str, str], FileObject] = {}
        self._file_order: dict[str, list[str]] = {}
        self._batches: dict[tuple[str, str], Fields] = {}
        self._batch_order: dict[str, list[str]] = {}
        self._items: dict[tuple[str, str], dict[int, str]] = {}

    async def save_file(self, team: str, file: FileObject) -> None:
        if (team, file.id) not in self._files:
            self._file_order.setdefault(team, []).append(file.id)
        self._files[(team, file.id)] = file

    async def get_file(self, team: str, file_id: str) -> FileObject | None:
        return self._files.get((team, file_id))

    async def delete_file(self, team: str, file_id: str) -> bool:
        if self._files.pop((team, file_id), None) is None:
            return False
        self._file_order[team].remove(file_id)
        return True

    async def list_files(
        self, team: str, after: str | None, limit: int
    ) -> tuple[list[FileObject], bool]:
        ids = _page(self._file_order.get(team, []), after, limit + 1)
        return [self._files[(team, i)] for i in ids[:limit]], len(ids) > limit

    async def create_batch(self, team: str, batch_id: str, fields: Mapping[str, str]) -> None:
        self._batches[(team, batch_id)] = dict(fields)
        self._batch_order.setdefault(team, []).append(batch_id)
        self._items[(team, batch_id)] = {}

    async def get_batch(self, team: str, batch_id: str) -> Fields | None:
        found = self._batches.get((team, batch_id))
        return dict(found) if found is not None else None

    async def list_batches(
        self, team: str, after: str | None, limit: int
    ) -> tuple[list[Fields], bool]:
        ids = _page(self._batch_order.get(team, []), after, limit + 1)
        return [dict(self._batches[(team, i)]) for i in ids[:limit]], len(ids) > limit

    async def transition(
        self,
        team: str,
        batch_id: str,
        allowed: Collection[str] | None,
        fields: Mapping[str, str],
    ) -> bool:
        batch = self._batches.get((team, batch_id))
        if batch is None or (allowed is not None and batch["status"] not in allowed):
            return False
        batch.update(fields)
        return True

    async def record_item(
        self, team: str, batch_id: str, line: int, outcome: str, cost_micros: int
    ) -> ItemRecorded:
        batch = self._batches[(team, batch_id)]
        items = self._items[(team, batch_id)]
        first = line not in items
        if first:
            items[line] = outcome
            batch[outcome] = str(int(batch.get(outcome, "0")) + 1)
            batch["spent_micros"] = str(int(batch.get("spent_micros", "0")) + cost_micros)
        return ItemRecorded(
            first,
            int(batch.get("completed", "0")),
            int(batch.get("failed", "0")),
            int(batch.get("total", "0")),
        )

    async def item_outcomes(self, team: str, batch_id: str) -> dict[int, str]:
        return dict(self._items.get((team, batch_id), {}))

    async def close(self) -> None:
        return None


def _page(order: list[str], after: str | None, count: int) -> list[str]:
    newest_first = order[::-1]
    if after is not None and after not in newest_first:
        return []
    start = newest_first.index(after) + 1 if after is not None else 0
    return newest_first[start : start + count]
