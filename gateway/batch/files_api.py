"""``/v1/files``: upload, describe, list, download and delete a team's batch files."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response, StreamingResponse

from gateway.api.models import ErrorResponse
from gateway.api.parsing import cap_receive
from gateway.api.responses import JSONBytesResponse
from gateway.api.state import AppState, get_state
from gateway.auth import Principal
from gateway.batch.jobs import file_key
from gateway.batch.models import FileDeleted, FileList, FileObject, new_file_id
from gateway.batch.runtime import BatchRuntime
from gateway.blobs import BlobNotFound
from gateway.errors import InvalidRequest, NotFound, PermissionDenied

router = APIRouter()

#: What every files and batches route may answer besides its 200 (all in the OpenAI shape).
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 503)
}
_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "purpose"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "purpose": {"type": "string", "enum": ["batch"]},
                    },
                }
            }
        },
    }
}

#: What a multipart envelope may add to the file it carries (boundaries, headers, purpose).
ENVELOPE_BYTES = 64 * 1024


def team_runtime(request: Request) -> tuple[AppState, str, Principal, BatchRuntime]:
    state = get_state(request)
    principal = state.keyring.authenticate(request.headers.get("authorization"))
    if principal.team is None:
        raise PermissionDenied("Files and batches belong to teams; use a team key.")
    if state.batches is None:
        raise NotFound("Batches are not enabled on this gateway.")
    return state, principal.team, principal, state.batches


def too_large(limit: int) -> InvalidRequest:
    return InvalidRequest(
        f"The file is larger than {limit} bytes, this gateway's limit for batch input files.",
        param="file",
        code="file_too_large",
    )


@router.post("/v1/files", response_model=FileObject, responses=ERRORS, openapi_extra=_UPLOAD_BODY)
async def upload_file(request: Request) -> JSONBytesResponse:
    _, team, _, runtime = team_runtime(request)
    limit = runtime.max_file_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + ENVELOPE_BYTES:
        raise too_large(limit)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidRequest(
            "Upload the file as multipart/form-data with fields 'file' and 'purpose'.",
            code="invalid_content_type",
        )
    cap_receive(request, limit + ENVELOPE_BYTES, lambda: too_large(limit))
    async with request.form(max_files=1, max_fields=4) as form:
        purpose = form.get("purpose")
        upload = form.get("file")
        if purpose != "batch":
            raise InvalidRequest(
                "Invalid 'purpose': tiergate accepts 'batch' files only.", param="purpose"
            )
        if not isinstance(upload, UploadFile):
            raise InvalidRequest("Missing the 'file' field.", param="file")
        size, lines = await _measure(upload)
        if size > limit:
            raise too_large(limit)
        if lines > runtime.max_file_lines:
            raise InvalidRequest(
                f"The file has {lines} requests; a batch may have at most "
                f"{runtime.max_file_lines}.",
                param="file",
                code="too_many_requests_in_file",
            )
        if lines == 0:
            raise InvalidRequest("The file is empty.", param="file", code="empty_file")
        file = FileObject(
            id=new_file_id(),
            bytes=size,
            created_at=int(time.time()),
            filename=(upload.filename or "batch.jsonl")[:255],
            purpose="batch",
        )
        upload.file.seek(0)
        await runtime.blobs.put(file_key(team, file.id), upload.file)
    await runtime.state.save_file(team, file)
    return JSONBytesResponse(file.model_dump())


async def _measure(upload: UploadFile) -> tuple[int, int]:
    """(bytes, non-empty lines) of the upload, read once in chunks."""
    size = lines = 0
    pending = False  # the current line has content
    while chunk := await upload.read(1 << 20):
        size += len(chunk)
        for row in chunk.split(b"\n")[:-1]:
            if pending or row.strip():
                lines += 1
            pending = False
        pending = pending or bool(chunk.rsplit(b"\n", 1)[-1].strip())
    return size, lines + pending


@router.get("/v1/files", response_model=FileList, responses=ERRORS)
async def list_files(
    request: Request, limit: int = 20, after: str | None = None, purpose: str | None = None
) -> JSONBytesResponse:
    _, team, _, runtime = team_runtime(request)
    limit = _limit(limit, 10_000)
    files, has_more = await runtime.state.list_files(team, after, limit)
    if purpose is not None:
        files = [f for f in files if f.purpose == purpose]
    page = FileList(
        data=files,
        first_id=files[0].id if files else None,
        last_id=files[-1].id if files else None,
        has_more=has_more,
    )
    return JSONBytesResponse(page.model_dump())


async def _team_file(request: Request, file_id: str) -> tuple[str, BatchRuntime, FileObject]:
    _, team, _, runtime = team_runtime(request)
    file = await runtime.state.get_file(team, file_id)
    if file is None:
        raise NotFound(f"No such File object: {file_id}", param="file_id")
    return team, runtime, file


@router.get("/v1/files/{file_id}", response_model=FileObject, responses=ERRORS)
async def get_file(request: Request, file_id: str) -> JSONBytesResponse:
    _, _, file = await _team_file(request, file_id)
    return JSONBytesResponse(file.model_dump())


@router.get(
    "/v1/files/{file_id}/content",
    responses={**ERRORS, 200: {"content": {"application/jsonl": {}}}},
)
async def file_content(request: Request, file_id: str) -> Response:
    team, runtime, file = await _team_file(request, file_id)
    try:
        chunks = await runtime.blobs.stream(file_key(team, file.id))
    except BlobNotFound:
        raise NotFound(f"The content of {file_id} is gone.", param="file_id") from None
    return StreamingResponse(
        chunks,
        media_type="application/jsonl",
        headers={"content-length": str(file.bytes)},
    )


@router.delete("/v1/files/{file_id}", response_model=FileDeleted, responses=ERRORS)
async def delete_file(request: Request, file_id: str) -> JSONBytesResponse:
    team, runtime, file = await _team_file(request, file_id)
    await runtime.state.delete_file(team, file.id)
    await runtime.blobs.delete(file_key(team, file.id))
    return JSONBytesResponse(FileDeleted(id=file.id).model_dump())


def _limit(value: int, most: int) -> int:
    if not 1 <= value <= most:
        raise InvalidRequest(f"Invalid 'limit': between 1 and {most}.", param="limit")
    return value
