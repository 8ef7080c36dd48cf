"""Which fault, if any, a simulated request gets: the pure choice and its run-time state."""

from __future__ import annotations

import random
from collections.abc import Mapping
from enum import StrEnum

from gateway.simulator.config import FAULT_RATE_FIELDS, FaultSettings


class FaultKind(StrEnum):
    """A request's fault; the value is the outcome name counted in ``/admin/stats``."""

    NONE = "ok"
    FAIL_NEXT = "fail_next"
    ERROR = "error"
    RATE_LIMIT = "rate_limited"
    HANG = "hang"
    SLOW_BODY = "slow_body"
    MALFORMED = "malformed"
    RESET = "reset"
    WRONG_SHAPE = "wrong_shape"


_KIND_BY_RATE_FIELD: dict[str, FaultKind] = {
    "error_rate": FaultKind.ERROR,
    "rate_limit_rate": FaultKind.RATE_LIMIT,
    "hang_rate": FaultKind.HANG,
    "slow_body_rate": FaultKind.SLOW_BODY,
    "malformed_rate": FaultKind.MALFORMED,
    "reset_rate": FaultKind.RESET,
    "wrong_shape_rate": FaultKind.WRONG_SHAPE,
}


def has_random_faults(settings: FaultSettings) -> bool:
    return any(getattr(settings, name) > 0 for name in FAULT_RATE_FIELDS)


def choose_fault(settings: FaultSettings, draw: float) -> FaultKind:
    """Match one uniform ``draw`` in [0, 1) against the rates laid end to end."""
    threshold = 0.0
    for name in FAULT_RATE_FIELDS:
        rate: float = getattr(settings, name)
        threshold += rate
        if rate > 0 and draw < threshold:
            return _KIND_BY_RATE_FIELD[name]
    return FaultKind.NONE


class FaultController:
    """The current fault settings, the ``fail_next`` countdown and the seeded draws."""

    def __init__(self, initial: FaultSettings) -> None:
        self._initial = initial
        self._settings = initial
        self._random_faults = has_random_faults(initial)
        self._rng = random.Random(initial.fault_seed)

    @property
    def settings(self) -> FaultSettings:
        """Current settings; ``fail_next`` is what is left of the countdown."""
        return self._settings

    def reset(self) -> FaultSettings:
        """Back to the settings the simulator started with, re-seeding the draws."""
        self._apply(self._initial, reseed=True)
        return self._settings

    def update(self, patch: Mapping[str, object]) -> FaultSettings:
        """Replace the given fields; raises pydantic's ValidationError, changing nothing."""
        merged = FaultSettings.model_validate({**self._settings.model_dump(), **patch})
        self._apply(merged, reseed="fault_seed" in patch)
        return self._settings

    def next_fault(self) -> FaultKind:
        """The fault for the next request, counting ``fail_next`` down first."""
        settings = self._settings
        if settings.fail_next > 0:
            self._settings = settings.model_copy(update={"fail_next": settings.fail_next - 1})
            return FaultKind.FAIL_NEXT
        if not self._random_faults:
            return FaultKind.NONE
        return choose_fault(settings, self._rng.random())

    def _apply(self, settings: FaultSettings, *, reseed: bool) -> None:
        self._settings = settings
        self._random_faults = has_random_faults(settings)
        if reseed:
            self._rng = random.Random(settings.fault_seed)
