"""Finalizing a batch: once every line has an outcome, join the stored lines, in input
order, into its output and error files and give it its final status."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import structlog

from gateway.batch.jobs import file_key, item_key
from gateway.batch.models import FINAL, BatchStatus, FileObject, new_file_id
from gateway.batch.state import BatchState
from gateway.blobs import Blobs

log = structlog.get_logger("gateway.batch")


async def finalize_batch(state: BatchState, blobs: Blobs, team: str, batch_id: str) -> None:
    """Join the items' lines, in input order, into the output and error files."""
    batch = await state.get_batch(team, batch_id)
    if batch is None or batch["status"] in FINAL:
        return
    outcomes = await state.item_outcomes(team, batch_id)
    total = int(batch.get("total") or 0)
    if total == 0 or len(outcomes) < total:
        return
    now = str(int(time.time()))
    if batch["status"] != BatchStatus.finalizing:
        moved = await state.transition(
            team,
            batch_id,
            [BatchStatus.validating, BatchStatus.in_progress, BatchStatus.cancelling],
            {"status": BatchStatus.finalizing, "finalizing_at": now},
        )
        if not moved:
            return
    files: dict[str, str] = {}
    for outcome, field in (("completed", "output_file_id"), ("failed", "error_file_id")):
        lines = sorted(line for line, o in outcomes.items() if o == outcome)
        if not lines:
            continue
        file_id = new_file_id()
        await blobs.put(file_key(team, file_id), joined_lines(blobs, team, batch_id, lines))
        size = await blobs.size(file_key(team, file_id)) or 0
        await state.save_file(
            team,
            FileObject(
                id=file_id,
                bytes=size,
                created_at=int(now),
                filename=f"{batch_id}_{'output' if outcome == 'completed' else 'error'}.jsonl",
                purpose="batch_output",
            ),
        )
        files[field] = file_id
    if batch.get("cancel_requested"):
        final, stamp = BatchStatus.cancelled, "cancelled_at"
    elif batch.get("expired_items"):
        final, stamp = BatchStatus.expired, "expired_at"
    else:
        final, stamp = BatchStatus.completed, "completed_at"
    await state.transition(
        team,
        batch_id,
        [BatchStatus.finalizing],
        {"status": final, stamp: str(int(time.time())), **files},
    )
    # The items' results are in the output and error files now.
    removed = await blobs.delete_prefix(f"{team}/batches/{batch_id}/items")
    log.info(
        "batch_finished",
        team=team,
        batch_id=batch_id,
        status=str(final),
        total=total,
        item_blobs_removed=removed,
    )


async def joined_lines(
    blobs: Blobs, team: str, batch_id: str, lines: list[int]
) -> AsyncIterator[bytes]:
    for line in lines:
        stored = await blobs.get(item_key(team, batch_id, line))
        yield stored.split(b"\n", 1)[1] + b"\n"
