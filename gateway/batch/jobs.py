"""Names and shapes the batch pieces share: queue jobs, blob keys, stored item results."""

from __future__ import annotations

from typing import Any

import orjson


def encode_job(job: dict[str, Any]) -> bytes:
    return orjson.dumps(job, option=orjson.OPT_SORT_KEYS)


def file_key(team: str, file_id: str) -> str:
    return f"{team}/files/{file_id}"


def item_key(team: str, batch_id: str, line: int) -> str:
    return f"{team}/batches/{batch_id}/items/{line:06d}"


def item_blob(outcome: str, cost_micros: int, line: dict[str, Any] | bytes) -> bytes:
    """An item's stored result: a header line (outcome, cost), then its output-file line."""
    body = line if isinstance(line, bytes) else orjson.dumps(line)
    return orjson.dumps({"outcome": outcome, "cost_micros": cost_micros}) + b"\n" + body
