"""``POST /v1/admin/policy/reload``: validate the policy file and swap it in (admin key)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from gateway.api.models import ErrorResponse
from gateway.api.responses import JSONBytesResponse
from gateway.api.state import get_state
from gateway.errors import InvalidRequest, PermissionDenied

router = APIRouter()


@router.post(
    "/v1/admin/policy/reload",
    responses={status: {"model": ErrorResponse} for status in (400, 401, 403)},
)
async def reload_policy(request: Request) -> JSONBytesResponse:
    state = get_state(request)
    principal = state.keyring.authenticate(request.headers.get("authorization"))
    if not principal.is_admin:
        raise PermissionDenied("Reloading the policy needs an admin key.")
    result = state.live.reload("admin")
    if result.error is not None:
        raise InvalidRequest(
            f"The policy was not reloaded; {result.error.source} is invalid: "
            + "; ".join(result.error.errors)
            + f". The policy in force ({result.digest[:12]}) stays.",
            code="invalid_policy",
        )
    return JSONBytesResponse({"status": result.status, "policy": result.digest})
