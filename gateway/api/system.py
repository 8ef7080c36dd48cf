"""Model listing and health endpoints."""

from __future__ import annotations

from fastapi import APIRouter, Request

from gateway.api.models import ModelCard, ModelList
from gateway.api.responses import JSONBytesResponse
from gateway.api.state import AppState, get_state
from gateway.errors import GatewayError
from gateway.pipeline.routing import AUTO_MODEL

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
    active, failed = state.live.current, state.live.last_error
    body: dict[str, object] = {
        "status": "ready" if store_ok else "unavailable",
        "checks": {"store": "ok" if store_ok else "down"},
        "circuits": state.service.caller.circuit_states(),
        "journal_pending": state.service.admission.journal.pending()
        if state.service.admission.journal
        else 0,
        "policy": {
            "sha256": active.digest,
            "source": str(state.live.path) if state.live.path else None,
            "loaded_at": int(active.loaded_at),
            # The last reload's errors while the file does not validate (the policy above
            # stays in force); null once a reload succeeds.
            # The lines name teams and tiers, so they are shown to an admin key only; anyone
            # else (a probe) sees how many there are.
            "reload_error": {
                "source": failed.source,
                **(
                    {"errors": list(failed.errors)}
                    if is_admin(state, request)
                    else {"error_count": len(failed.errors)}
                ),
                "at": int(failed.at),
                "trigger": failed.trigger,
            }
            if failed is not None
            else None,
        },
    }
    return JSONBytesResponse(body, status_code=200 if store_ok else 503)


def is_admin(state: AppState, request: Request) -> bool:
    """Whether the request carries a valid admin key (never an error: /readyz takes none)."""
    authorization = request.headers.get("authorization")
    if authorization is None:
        return False
    try:
        return state.keyring.authenticate(authorization).is_admin
    except GatewayError:
        return False
