"""Validating a batch: read its input file, send invalid lines to the error file with the
error the synchronous endpoint would give, and queue the valid ones as item jobs."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import orjson
from pydantic import ValidationError

from gateway.api.models import ImageGenerationRequest
from gateway.api.parsing import parse_json_body, validation_error
from gateway.batch.jobs import encode_job, file_key
from gateway.batch.models import BatchStatus, InputLine
from gateway.batch.state import BatchState
from gateway.blobs import BlobNotFound
from gateway.errors import InvalidRequest

if TYPE_CHECKING:
    from gateway.batch.executor import Executor


async def validate_batch(executor: Executor, team: str, batch_id: str) -> None:
    """Read the input file: invalid lines to the error file, valid ones to the queue."""
    batch = await executor.state.get_batch(team, batch_id)
    if batch is None or batch.get("total"):
        return
    if batch["status"] not in (BatchStatus.validating, BatchStatus.cancelling):
        return
    try:
        lines = await executor.blobs.get(file_key(team, batch["input_file_id"]))
    except BlobNotFound:
        await fail_batch(
            executor.state, team, batch_id, "file_not_found", "The input file was deleted."
        )
        return
    jobs: list[bytes] = []
    invalid: list[tuple[int, str | None, InvalidRequest]] = []
    seen: set[str] = set()
    numbered = [row for row in lines.split(b"\n") if row.strip()]
    for index, raw in enumerate(numbered):
        parsed = parse_line(raw, seen)
        if isinstance(parsed, tuple):
            invalid.append((index, *parsed))
            continue
        seen.add(parsed.custom_id)
        jobs.append(
            encode_job(
                {
                    "k": "item",
                    "t": team,
                    "b": batch_id,
                    "l": index,
                    "c": parsed.custom_id,
                    "body": parsed.body,
                }
            )
        )
    if not numbered:
        await fail_batch(
            executor.state, team, batch_id, "empty_file", "The input file has no lines."
        )
        return
    # The total first: no item may look like the last one before all are counted.
    if not await executor.state.transition(
        team,
        batch_id,
        [BatchStatus.validating, BatchStatus.cancelling],
        {"total": str(len(numbered))},
    ):
        return
    for index, custom_id, error in invalid:
        line_id = f"batch_req_{batch_id.removeprefix('batch_')}_{index}"
        await executor.failed(team, batch_id, index, custom_id, line_id, error)
    await executor.queue.push(jobs)
    await executor.state.transition(
        team,
        batch_id,
        [BatchStatus.validating],
        {"status": BatchStatus.in_progress, "in_progress_at": str(int(time.time()))},
    )


def parse_line(raw: bytes, seen: set[str]) -> InputLine | tuple[str | None, InvalidRequest]:
    """A valid line, or (its custom_id if readable, the error the endpoint would give)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None, InvalidRequest("This line is not valid JSON.", code="invalid_json")
    custom_id = data.get("custom_id") if isinstance(data, dict) else None
    custom_id = custom_id if isinstance(custom_id, str) else None
    try:
        line = InputLine.model_validate(data)
    except ValidationError as exc:
        return custom_id, validation_error(exc)
    if line.url != "/v1/images/generations":
        return custom_id, InvalidRequest(
            f"Invalid 'url': '{line.url}'; this batch's endpoint is /v1/images/generations.",
            param="url",
        )
    if line.custom_id in seen:
        return custom_id, InvalidRequest(
            f"Duplicate custom_id '{line.custom_id}': each line needs its own.",
            param="custom_id",
            code="duplicate_custom_id",
        )
    try:
        # The same parser and errors as POST /v1/images/generations.
        body = parse_json_body(orjson.dumps(line.body), "application/json", ImageGenerationRequest)
    except InvalidRequest as exc:
        return custom_id, exc
    # An output file holds each line's images; a stream or an expiring link has no place in it.
    if body.stream:
        return custom_id, InvalidRequest(
            "Invalid 'stream': a batch line cannot be streamed.", param="body.stream"
        )
    if body.response_format != "b64_json":
        return custom_id, InvalidRequest(
            "Invalid 'response_format': a batch's output file carries b64_json images.",
            param="body.response_format",
        )
    return line


async def fail_batch(state: BatchState, team: str, batch_id: str, code: str, message: str) -> None:
    errors = {"object": "list", "data": [{"code": code, "message": message}]}
    await state.transition(
        team,
        batch_id,
        [BatchStatus.validating],
        {
            "status": BatchStatus.failed,
            "failed_at": str(int(time.time())),
            "errors": orjson.dumps(errors).decode(),
        },
    )
