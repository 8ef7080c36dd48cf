"""``create_simulator_app(config)``: wiring only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from gateway.simulator.admin import AdminEndpoints
from gateway.simulator.config import SimulatorConfig
from gateway.simulator.connection import SimulatorEdge
from gateway.simulator.faults import FaultController
from gateway.simulator.images import MAI_PATH, OPENAI_EDITS_PATH, OPENAI_PATH, ImageEndpoints
from gateway.simulator.png import ImageCache
from gateway.simulator.responses import status_error
from gateway.simulator.stats import RequestStats
from gateway.simulator.text_image import TextSource
from gateway.simulator.tokens import text_tokens


def create_simulator_app(config: SimulatorConfig) -> ASGIApp:
    """An ASGI app standing in for one image vendor tier (``config.profile``).

    Serves ``POST /v1/images/generations`` and ``/v1/images/edits`` (OpenAI),
    ``POST /mai/v1/images/generations``
    (Microsoft Foundry MAI), ``GET /healthz`` and the ``/admin`` endpoints; every response
    carries ``x-tiergate-simulator: <profile>``. The reset fault needs uvicorn.
    """
    faults = FaultController(config.fault_settings())
    stats = RequestStats()
    error_rate = config.text_error_rate
    if error_rate is None:
        error_rate = 0.03 if config.profile == "efficient" else 0.0
    text = TextSource(error_rate, config.text_seed)
    images = ImageEndpoints(
        config, faults, stats, ImageCache(config.image_cache_size, config.image_bytes, text)
    )
    admin = AdminEndpoints(config.profile, faults, stats)
    routes = [
        Route(OPENAI_PATH, images.openai_generations, methods=["POST"]),
        Route(OPENAI_EDITS_PATH, images.openai_edits, methods=["POST"]),
        Route(MAI_PATH, images.mai_generations, methods=["POST"]),
        Route("/healthz", admin.healthz, methods=["GET"]),
        Route("/admin/faults", admin.get_faults, methods=["GET"]),
        Route("/admin/faults", admin.put_faults, methods=["PUT"]),
        Route("/admin/reset", admin.reset, methods=["POST"]),
        Route("/admin/stats", admin.stats, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error, Exception: _unexpected_error},
        lifespan=_load_tokenizer,
    )
    return SimulatorEdge(app, config.profile)


@asynccontextmanager
async def _load_tokenizer(app: Starlette) -> AsyncIterator[None]:
    """Load the tokenizer at startup rather than on the first request."""
    text_tokens("warm up")
    yield


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "Internal Server Error"
    return status_error(status, f"{detail}: {request.method} {request.url.path}")


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    return status_error(500, f"The simulator failed: {type(exc).__name__}")
