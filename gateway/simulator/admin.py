"""Health and admin endpoints: read and change faults at run time, reset, and count requests.

``GET /admin/faults`` and ``PUT /admin/faults`` (a JSON object with any subset of the
:class:`FaultSettings` fields) answer with the current settings; ``POST /admin/reset``
restores the settings the simulator started with and zeroes the counters;
``GET /admin/stats`` answers with a :class:`StatsSnapshot`.
"""

from __future__ import annotations

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from gateway.simulator.config import FaultSettings, Profile
from gateway.simulator.faults import FaultController
from gateway.simulator.responses import error_response, json_response
from gateway.simulator.schemas import error_body, invalid_request
from gateway.simulator.stats import RequestStats, StatsSnapshot


class Health(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: str
    profile: Profile


class ResetResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    faults: FaultSettings
    stats: StatsSnapshot


class AdminEndpoints:
    def __init__(self, profile: Profile, faults: FaultController, stats: RequestStats) -> None:
        self._profile = profile
        self._faults = faults
        self._stats = stats

    async def healthz(self, request: Request) -> Response:
        return json_response(Health(status="ok", profile=self._profile))

    async def get_faults(self, request: Request) -> Response:
        return json_response(self._faults.settings)

    async def put_faults(self, request: Request) -> Response:
        try:
            patch = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            patch = None
        if not isinstance(patch, dict):
            return error_response(
                error_body(
                    "The body must be a JSON object of fault settings.", "invalid_request_error"
                ),
                400,
            )
        try:
            settings = self._faults.update(patch)
        except ValidationError as exc:
            return error_response(invalid_request(exc), 400)
        return json_response(settings)

    async def reset(self, request: Request) -> Response:
        settings = self._faults.reset()
        self._stats.reset()
        return json_response(ResetResult(faults=settings, stats=self._stats.snapshot()))

    async def stats(self, request: Request) -> Response:
        return json_response(self._stats.snapshot())
