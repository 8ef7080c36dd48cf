"""``GET /v1/reports/teams/{team}``: a team's usage report as json, csv, md or html.

A team key reads its own team; an admin key reads any team. Any other team, existing
or not, is the same 404, so a team key cannot learn which teams exist.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated, Any, cast

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from gateway.api.models import ErrorResponse
from gateway.api.state import get_state
from gateway.budget.store import StoreError
from gateway.errors import InvalidRequest, NotFound, StoreUnavailable
from gateway.reports import (
    FORMATS,
    MEDIA_TYPES,
    ReportFormat,
    ReportPeriod,
    TeamReport,
    render_reports,
)
from gateway.reports.source import team_report

router = APIRouter()

DEFAULT_DAYS = 30


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def query_date(value: str, name: str) -> date:
    """A ``YYYY-MM-DD`` day; Python's other ISO forms (``20261201``, ``2026-W48-1``) are not."""
    try:
        if _DAY.fullmatch(value) is None:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"Invalid '{name}': expected a date YYYY-MM-DD.", param=name) from None


def default_start(end: date) -> date:
    """The first day of the default window ending on ``end``."""
    try:
        return end - timedelta(days=DEFAULT_DAYS - 1)
    except OverflowError:
        raise InvalidRequest(
            f"Invalid 'to': the default {DEFAULT_DAYS}-day period would start before year 1; "
            "give 'from' as well.",
            param="to",
        ) from None


_TEXT_FORMATS = {
    MEDIA_TYPES[f].split(";")[0]: {"schema": {"type": "string"}} for f in FORMATS if f != "json"
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": TeamReport,
        "content": _TEXT_FORMATS,
        "description": "The report in the requested format.",
    },
    **{status: {"model": ErrorResponse} for status in (400, 401, 404, 503)},
}

FromDay = Annotated[str | None, Query(alias="from", description="First UTC day, YYYY-MM-DD.")]
ToDay = Annotated[str | None, Query(description="Last UTC day (included), YYYY-MM-DD.")]
FormatName = Annotated[str | None, Query(alias="format", description="json, csv, md or html.")]


@router.get("/v1/reports/teams/{team}", response_model=None, responses=_RESPONSES)
async def get_team_report(
    request: Request,
    team: str,
    from_: FromDay = None,
    to: ToDay = None,
    format_: FormatName = None,
) -> Response:
    """Usage report of `team` for the UTC days `from`..`to` (default: the last 30 days).

    Query parameters are read after authorization, so they are validated here, not by FastAPI.
    """
    state = get_state(request)
    principal = state.keyring.authenticate(request.headers.get("authorization"))
    visible = team in state.policy.teams and (principal.is_admin or principal.team == team)
    if not visible:
        raise NotFound("No report found for that team.")
    fmt = format_ or "json"
    if fmt not in FORMATS:
        raise InvalidRequest(f"Invalid 'format': use one of {', '.join(FORMATS)}.", param="format")
    today = state.service.clock().date()
    end = today if to is None else query_date(to, "to")
    start = default_start(end) if from_ is None else query_date(from_, "from")
    try:
        period = ReportPeriod(start=start, end=end)
    except ValidationError as exc:
        message = str(exc.errors(include_url=False)[0]["msg"]).removeprefix("Value error, ")
        raise InvalidRequest(f"Invalid period: {message}.", param="from") from None
    try:
        report = await team_report(state.store, state.policy, team, period)
    except StoreError as exc:
        raise StoreUnavailable("The budget store is unavailable; try again shortly.") from exc
    fmt_ = cast(ReportFormat, fmt)
    return Response(render_reports([report], fmt_, single=True), media_type=MEDIA_TYPES[fmt_])
