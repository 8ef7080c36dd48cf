"""``GET /metrics``: Prometheus exposition of this app's registry, for admin keys only."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.api.state import get_state
from gateway.errors import NotFound, PermissionDenied
from gateway.metrics import CONTENT_TYPE, Metrics

router = APIRouter()


def get_metrics(request: Request) -> Metrics | None:
    metrics = getattr(request.app.state, "metrics", None)
    return metrics if isinstance(metrics, Metrics) else None


@router.get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request) -> Response:
    state = get_state(request)
    principal = state.keyring.authenticate(request.headers.get("authorization"))
    if not principal.is_admin:
        raise PermissionDenied("Metrics need an admin key.")
    metrics = get_metrics(request)
    if metrics is None:
        raise NotFound("Metrics are not enabled in this gateway.")
    return Response(metrics.render(), media_type=CONTENT_TYPE)
