"""Model listing and health endpoints."""

from __future__ import annotations

from fastapi import APIRouter, Request

from gateway.api.models import ModelCard, ModelList
from gateway.api.responses import JSONBytesResponse
from gateway.api.state import get_state
from gateway.routing import AUTO_MODEL

router = APIRouter()


@router.get("/v1/models", response_model=ModelList)
async def list_models(request: Request) -> ModelList:
    state = get_state(request)
    state.keyring.authenticate(request.headers.get("authorization"))
    cards = [ModelCard(id=AUTO_MODEL)]
    for name, tier in state.policy.tiers.items():
        cards.append(ModelCard(id=name))
        cards.extend(ModelCard(id=alias) for alias in tier.aliases)
    return ModelList(data=cards)


@router.get("/healthz")
async def healthz() -> JSONBytesResponse:
    return JSONBytesResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> JSONBytesResponse:
    """Ready when the budget store answers; the detail says what is down."""
    state = get_state(request)
    store_ok = await state.store.ping()
    body = {
        "status": "ready" if store_ok else "unavailable",
        "checks": {"store": "ok" if store_ok else "down"},
        "circuits": state.service.caller.circuit_states(),
        "journal_pending": state.service.admission.journal.pending()
        if state.service.admission.journal
        else 0,
    }
    return JSONBytesResponse(body, status_code=200 if store_ok else 503)
