"""The application's wired components, kept on ``app.state`` (no module globals)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request

from gateway.admission.idempotency import Idempotency
from gateway.auth import KeyRing
from gateway.budget.store import BudgetStore
from gateway.classify import Classifier
from gateway.policy.schema import Policy
from gateway.service import ImageService
from gateway.settings import Settings

if TYPE_CHECKING:
    from gateway.batch.runtime import BatchRuntime


@dataclass(slots=True)
class AppState:
    settings: Settings
    policy: Policy
    keyring: KeyRing
    store: BudgetStore
    classifier: Classifier
    service: ImageService
    idempotency: Idempotency
    in_flight_seconds: float
    batches: BatchRuntime | None = None


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.tiergate
    return state
