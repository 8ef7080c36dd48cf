"""The OpenAI Files and Batch API objects, field for field, as pydantic models."""

from __future__ import annotations

import re
import secrets
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ENDPOINT = "/v1/images/generations"
#: ``completion_window`` values: OpenAI's "24h", and shorter or longer ones in s, m or h.
_WINDOW = re.compile(r"([1-9][0-9]{0,5})([smh])")
MAX_WINDOW_SECONDS = 7 * 86_400


class BatchStatus(StrEnum):
    validating = "validating"
    in_progress = "in_progress"
    finalizing = "finalizing"
    completed = "completed"
    failed = "failed"
    cancelling = "cancelling"
    cancelled = "cancelled"
    expired = "expired"


#: Statuses a batch never leaves.
FINAL = frozenset(
    {BatchStatus.completed, BatchStatus.failed, BatchStatus.cancelled, BatchStatus.expired}
)


def new_file_id() -> str:
    return "file-" + secrets.token_hex(12)


def new_batch_id() -> str:
    return "batch_" + secrets.token_hex(12)


def window_seconds(window: str) -> int:
    """Seconds in a ``completion_window`` such as ``24h`` (ValueError if malformed)."""
    match = _WINDOW.fullmatch(window)
    if match is None:
        raise ValueError(window)
    seconds = int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]
    if seconds > MAX_WINDOW_SECONDS:
        raise ValueError(window)
    return seconds


class FileObject(BaseModel):
    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: Literal["uploaded", "processed", "error"] = "processed"
    expires_at: int | None = None
    status_details: str | None = None


class FileList(BaseModel):
    object: Literal["list"] = "list"
    data: list[FileObject]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False


class FileDeleted(BaseModel):
    id: str
    object: Literal["file"] = "file"
    deleted: bool = True


class RequestCounts(BaseModel):
    total: int = 0
    completed: int = 0
    failed: int = 0


class BatchError(BaseModel):
    code: str
    message: str
    param: str | None = None
    line: int | None = None


class BatchErrors(BaseModel):
    object: Literal["list"] = "list"
    data: list[BatchError]


class Batch(BaseModel):
    id: str
    object: Literal["batch"] = "batch"
    endpoint: str
    errors: BatchErrors | None = None
    input_file_id: str
    completion_window: str
    status: BatchStatus
    output_file_id: str | None = None
    error_file_id: str | None = None
    created_at: int
    in_progress_at: int | None = None
    expires_at: int | None = None
    finalizing_at: int | None = None
    completed_at: int | None = None
    failed_at: int | None = None
    expired_at: int | None = None
    cancelling_at: int | None = None
    cancelled_at: int | None = None
    request_counts: RequestCounts = RequestCounts()
    metadata: dict[str, str] | None = None
    spend_usd: str = Field(
        default="0.000000",
        description="tiergate's addition: what the batch's items have been charged so far.",
    )


class BatchList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Batch]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False


class BatchCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input_file_id: str = Field(min_length=1, max_length=64)
    endpoint: str
    completion_window: str = "24h"
    metadata: dict[str, str] | None = Field(default=None, max_length=16)

    @field_validator("endpoint")
    @classmethod
    def _images_only(cls, value: str) -> str:
        if value != ENDPOINT:
            raise ValueError(f"tiergate runs batches of '{ENDPOINT}' only")
        return value

    @field_validator("completion_window")
    @classmethod
    def _window(cls, value: str) -> str:
        try:
            window_seconds(value)
        except ValueError:
            raise ValueError(
                "expected a duration such as '24h' (OpenAI's only value), '30m' or '90s', "
                "at most 168h"
            ) from None
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for key, item in (value or {}).items():
            if len(key) > 64 or len(item) > 512:
                raise ValueError("metadata keys are at most 64 characters, values 512")
        if value and "max_spend_usd" in value:
            max_spend_micros(value)
        return value


def max_spend_micros(metadata: dict[str, str] | None) -> int | None:
    """``metadata.max_spend_usd`` in micro-dollars, if set (ValueError if not a positive
    number)."""
    raw = (metadata or {}).get("max_spend_usd")
    if raw is None:
        return None
    try:
        micros = round(float(raw) * 1_000_000)
    except ValueError:
        raise ValueError("metadata.max_spend_usd must be a number of US dollars") from None
    if not 0 < micros <= 10**15:
        raise ValueError("metadata.max_spend_usd must be a positive number of US dollars")
    return micros


class InputLine(BaseModel):
    """One line of a batch input file."""

    model_config = ConfigDict(extra="forbid")

    custom_id: str = Field(min_length=1, max_length=512)
    method: Literal["POST"]
    url: str
    body: dict[str, Any]


def output_line(
    line_id: str, custom_id: str | None, status_code: int, request_id: str, body: Any
) -> dict[str, Any]:
    """An output or error file line for a request that ran (or was refused as it would be)."""
    return {
        "id": line_id,
        "custom_id": custom_id,
        "response": {"status_code": status_code, "request_id": request_id, "body": body},
        "error": None,
    }


def error_line(line_id: str, custom_id: str | None, code: str, message: str) -> dict[str, Any]:
    """An error file line for a request that never ran (expired, cancelled)."""
    return {
        "id": line_id,
        "custom_id": custom_id,
        "response": None,
        "error": {"code": code, "message": message},
    }
