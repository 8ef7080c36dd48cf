"""Request counters behind ``GET /admin/stats``, so tests can assert what reached the vendor."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, ConfigDict


class StatsSnapshot(BaseModel):
    """Counts of image requests since start or the last ``POST /admin/reset``.

    Health and admin requests are not counted.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_total: int
    in_flight: int
    """Image requests whose handler is still running (a slow body may still be sending)."""
    images_total: int
    by_endpoint: dict[str, int]
    by_model: dict[str, int]
    by_outcome: dict[str, int]


class RequestStats:
    """Mutable counters; one per simulator app, touched only from its event loop."""

    def __init__(self) -> None:
        self._requests_total = 0
        self._in_flight = 0
        self._images_total = 0
        self._by_endpoint: Counter[str] = Counter()
        self._by_model: Counter[str] = Counter()
        self._by_outcome: Counter[str] = Counter()

    def reset(self) -> None:
        """Zero the counters; ``in_flight`` is a gauge and keeps counting what is running."""
        self._requests_total = 0
        self._images_total = 0
        self._by_endpoint.clear()
        self._by_model.clear()
        self._by_outcome.clear()

    def request_started(self, endpoint: str) -> None:
        """An image request arrived at ``endpoint`` (its path)."""
        self._requests_total += 1
        self._in_flight += 1
        self._by_endpoint[endpoint] += 1

    def request_finished(self) -> None:
        self._in_flight -= 1

    def record_outcome(self, outcome: str, model: str | None = None) -> None:
        """How it was answered (``ok``, ``invalid_request``, a fault name) and for which model."""
        self._by_outcome[outcome] += 1
        if model is not None:
            self._by_model[model] += 1

    def record_images(self, count: int) -> None:
        self._images_total += count

    def snapshot(self) -> StatsSnapshot:
        return StatsSnapshot(
            requests_total=self._requests_total,
            in_flight=self._in_flight,
            images_total=self._images_total,
            by_endpoint=dict(self._by_endpoint),
            by_model=dict(self._by_model),
            by_outcome=dict(self._by_outcome),
        )
