"""``/v1/batches``: create, describe, list and cancel a team's batches."""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import APIRouter, Request

from gateway.api.parsing import parse_json_body
from gateway.api.responses import JSONBytesResponse
from gateway.batch.files_api import ERRORS, _limit, team_runtime
from gateway.batch.jobs import encode_job
from gateway.batch.models import (
    FINAL,
    Batch,
    BatchCreateRequest,
    BatchList,
    BatchStatus,
    RequestCounts,
    max_spend_micros,
    new_batch_id,
    window_seconds,
)
from gateway.errors import InvalidRequest, NotFound
from gateway.pipeline.outcome import format_usd

router = APIRouter()

_CREATE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/BatchCreateRequest"}}
        },
    }
}

#: Largest ``POST /v1/batches`` body (it names a file; it does not carry one).
MAX_CREATE_BYTES = 64 * 1024


def batch_object(fields: dict[str, str]) -> Batch:
    """The OpenAI ``Batch`` of a stored batch record."""

    def stamp(name: str) -> int | None:
        value = fields.get(name)
        return int(value) if value else None

    return Batch(
        id=fields["id"],
        endpoint=fields["endpoint"],
        errors=orjson.loads(fields["errors"]) if fields.get("errors") else None,
        input_file_id=fields["input_file_id"],
        completion_window=fields["completion_window"],
        status=BatchStatus(fields["status"]),
        output_file_id=fields.get("output_file_id") or None,
        error_file_id=fields.get("error_file_id") or None,
        created_at=int(fields["created_at"]),
        in_progress_at=stamp("in_progress_at"),
        expires_at=stamp("expires_at"),
        finalizing_at=stamp("finalizing_at"),
        completed_at=stamp("completed_at"),
        failed_at=stamp("failed_at"),
        expired_at=stamp("expired_at"),
        cancelling_at=stamp("cancelling_at"),
        cancelled_at=stamp("cancelled_at"),
        request_counts=RequestCounts(
            total=int(fields.get("total") or 0),
            completed=int(fields.get("completed") or 0),
            failed=int(fields.get("failed") or 0),
        ),
        metadata=orjson.loads(fields["metadata"]) if fields.get("metadata") else None,
        spend_usd=format_usd(int(fields.get("spent_micros") or 0)),
    )


@router.post("/v1/batches", response_model=Batch, responses=ERRORS, openapi_extra=_CREATE_BODY)
async def create_batch(request: Request) -> JSONBytesResponse:
    _, team, principal, runtime = team_runtime(request)
    raw = await request.body()
    if len(raw) > MAX_CREATE_BYTES:
        raise InvalidRequest("The request body is too large for a batch creation.")
    body = parse_json_body(raw, request.headers.get("content-type"), BatchCreateRequest)
    if await runtime.state.get_file(team, body.input_file_id) is None:
        raise NotFound(f"No such File object: {body.input_file_id}", param="input_file_id")
    now = int(time.time())
    batch_id = new_batch_id()
    fields = {
        "id": batch_id,
        "team": team,
        "key_id": principal.key_id,
        "endpoint": body.endpoint,
        "input_file_id": body.input_file_id,
        "completion_window": body.completion_window,
        "status": BatchStatus.validating,
        "created_at": str(now),
        "expires_at": str(now + window_seconds(body.completion_window)),
        "metadata": orjson.dumps(body.metadata).decode() if body.metadata else "",
        "completed": "0",
        "failed": "0",
        "spent_micros": "0",
    }
    cap = max_spend_micros(body.metadata)
    if cap is not None:
        fields["max_spend_micros"] = str(cap)
    await runtime.state.create_batch(team, batch_id, fields)
    await runtime.queue.push([encode_job({"k": "validate", "t": team, "b": batch_id})])
    return JSONBytesResponse(batch_object(fields).model_dump())


async def _team_batch(request: Request, batch_id: str) -> dict[str, str]:
    _, team, _, runtime = team_runtime(request)
    fields = await runtime.state.get_batch(team, batch_id)
    if fields is None:
        raise NotFound(f"No such Batch object: {batch_id}", param="batch_id")
    return fields


@router.get("/v1/batches/{batch_id}", response_model=Batch, responses=ERRORS)
async def get_batch(request: Request, batch_id: str) -> JSONBytesResponse:
    return JSONBytesResponse(batch_object(await _team_batch(request, batch_id)).model_dump())


@router.get("/v1/batches", response_model=BatchList, responses=ERRORS)
async def list_batches(
    request: Request, limit: int = 20, after: str | None = None
) -> JSONBytesResponse:
    _, team, _, runtime = team_runtime(request)
    records, has_more = await runtime.state.list_batches(team, after, _limit(limit, 100))
    batches = [batch_object(r) for r in records]
    page = BatchList(
        data=batches,
        first_id=batches[0].id if batches else None,
        last_id=batches[-1].id if batches else None,
        has_more=has_more,
    )
    return JSONBytesResponse(page.model_dump())


@router.post("/v1/batches/{batch_id}/cancel", response_model=Batch, responses=ERRORS)
async def cancel_batch(request: Request, batch_id: str) -> JSONBytesResponse:
    """Cancelling: no item starts after this; running ones finish (and are charged), and
    the batch becomes ``cancelled`` once every item is accounted for."""
    _, team, _, runtime = team_runtime(request)
    fields = await _team_batch(request, batch_id)
    if fields["status"] in FINAL:
        raise InvalidRequest(
            f"Cannot cancel a batch with status '{fields['status']}'.",
            code="batch_not_cancellable",
        )
    await runtime.state.transition(
        team,
        batch_id,
        [BatchStatus.validating, BatchStatus.in_progress, BatchStatus.cancelling],
        {
            "status": BatchStatus.cancelling,
            "cancelling_at": fields.get("cancelling_at") or str(int(time.time())),
            "cancel_requested": "1",
        },
    )
    await runtime.queue.push([encode_job({"k": "finalize", "t": team, "b": batch_id})])
    updated = await runtime.state.get_batch(team, batch_id) or fields
    return JSONBytesResponse(batch_object(updated).model_dump())
