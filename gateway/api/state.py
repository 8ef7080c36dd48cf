"""The application's wired components, kept on ``app.state`` (no module globals).

What depends on the policy lives in ``live`` and is swapped on reload; a handler that
needs several of those parts takes ``state.serving()`` once and uses that to the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request

from gateway.admission.idempotency import Idempotency
from gateway.auth import KeyRing
from gateway.budget.store import BudgetStore
from gateway.classify import Classifier
from gateway.pipeline.service import ImageService
from gateway.pipeline.serving import Serving
from gateway.policy.live import Active, LivePolicy
from gateway.policy.schema import Policy
from gateway.settings import Settings

if TYPE_CHECKING:
    from gateway.batch.runtime import BatchRuntime
    from gateway.blobs.links import ImageLinks


@dataclass(slots=True)
class AppState:
    settings: Settings
    live: LivePolicy[Serving]
    store: BudgetStore
    idempotency: Idempotency
    batches: BatchRuntime | None = None
    links: ImageLinks | None = None

    def serving(self) -> Active[Serving]:
        return self.live.current

    @property
    def policy(self) -> Policy:
        return self.live.current.policy

    @property
    def keyring(self) -> KeyRing:
        return self.live.current.parts.keyring

    @property
    def service(self) -> ImageService:
        return self.live.current.parts.service

    @property
    def classifier(self) -> Classifier:
        return self.live.current.parts.service.classifier

    @property
    def in_flight_seconds(self) -> float:
        return self.live.current.parts.in_flight_seconds


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.tiergate
    return state
