"""What a worker does with one job: validate a batch's input, run one item, finalize.

Every job may run more than once (a worker dies, a job is claimed again), so each is
idempotent:

- An item's reservation id is ``batch:<id>:<line>``: a second run takes over the first
  run's outstanding reservation, and a finished one is never charged again
  (``DuplicateReservation``). The item's output line is written to the blob store *before*
  the charge settles, so a run that finds its reservation finished finds its line too.
- An item's outcome is recorded once (``BatchState.record_item``): counts and spend move
  once, whichever run gets there first.
- Validation and finalization move the batch's status only from the statuses they expect.

An item that cannot be admitted yet (hard budget, rate or concurrency limits, a store
outage) is not failed: it goes back to the queue, delayed, until the completion window
closes; then it is written to the error file as ``batch_expired``.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

import orjson
import structlog

from gateway.api.models import ImageGenerationRequest
from gateway.batch.finalize import finalize_batch
from gateway.batch.jobs import encode_job, item_blob, item_key
from gateway.batch.models import (
    FINAL,
    error_line,
    output_line,
)
from gateway.batch.pacing import batch_rate_limit, batch_spend_window, spend_window_name
from gateway.batch.queue import JobQueue
from gateway.batch.state import BatchState, ItemRecorded
from gateway.batch.validation import validate_batch
from gateway.blobs import Blobs
from gateway.budget.store import DuplicateReservation
from gateway.errors import (
    AuthenticationFailed,
    BudgetExceeded,
    GatewayError,
    Overloaded,
    RateLimited,
    StoreUnavailable,
)
from gateway.pipeline.outcome import Outcome, format_usd
from gateway.pipeline.service import JobContext
from gateway.pipeline.serving import Serving
from gateway.policy.live import LivePolicy

log = structlog.get_logger("gateway.batch")

#: Longest an item waits before it asks again for budget or rate room (seconds).
MAX_WAIT_SECONDS = 30.0


class ItemCancelled(GatewayError):
    """The batch was cancelled after this item was admitted; its reservation is released."""

    status_code = 409
    error_type = "invalid_request_error"
    default_code = "batch_cancelled"


@dataclass(slots=True)
class Executor:
    #: The policy in force and what serves under it; an item runs wholly under the one it
    #: started with (a reload between items changes keys, limits and prices for the next).
    live: LivePolicy[Serving]
    state: BatchState
    queue: JobQueue
    blobs: Blobs

    async def handle(self, job: dict[str, Any]) -> str:
        """Run one job; returns what became of it (for logs and metrics). Raises only for
        failures worth a retry (the job is not acknowledged and runs again)."""
        kind = job["k"]
        if kind == "item":
            return await self.run_item(job)
        if kind == "validate":
            await validate_batch(self, job["t"], job["b"])
            return "validated"
        if kind == "finalize":
            await finalize_batch(self.state, self.blobs, job["t"], job["b"])
            return "finalized"
        log.warning("batch_job_unknown", kind=kind)
        return "unknown"

    # -- items ---------------------------------------------------------------------------

    async def run_item(self, job: dict[str, Any]) -> str:
        team, batch_id, line, custom_id = job["t"], job["b"], int(job["l"]), job["c"]
        batch = await self.state.get_batch(team, batch_id)
        if batch is None:
            return "gone"
        line_id = f"batch_req_{batch_id.removeprefix('batch_')}_{line}"
        if batch["status"] in FINAL:
            return "finished"  # a stray copy of a job: the batch's files are written

        async def cancelled() -> str:
            return await self.never_ran(
                team,
                batch_id,
                line,
                custom_id,
                line_id,
                "batch_cancelled",
                "The batch was cancelled before this request ran.",
            )

        if batch.get("cancel_requested"):
            return await cancelled()
        if time.time() >= int(batch["expires_at"]):
            await self.state.transition(team, batch_id, None, {"expired_items": "1"})
            return await self.never_ran(
                team,
                batch_id,
                line,
                custom_id,
                line_id,
                "batch_expired",
                "This request could not be executed before the completion window expired.",
            )
        active = self.live.current
        service = active.parts.service
        principal = active.parts.keyring.principal_for(team, batch["key_id"])
        if principal is None:
            error = AuthenticationFailed(
                "The API key that created this batch no longer exists or is disabled.",
                code="invalid_api_key",
            )
            return await self.failed(team, batch_id, line, custom_id, line_id, error)
        request = ImageGenerationRequest.model_validate(job["body"])
        request_id = f"{batch_id}-{line}"

        async def still_wanted() -> None:
            current = await self.state.get_batch(team, batch_id)
            if current is None or current.get("cancel_requested"):
                raise ItemCancelled("The batch was cancelled before this request ran.")

        async def keep(outcome: Outcome) -> None:
            await self.blobs.put(
                item_key(team, batch_id, line),
                item_blob(
                    "completed",
                    outcome.cost_micros,
                    self._success_line(line_id, custom_id, outcome),
                ),
            )

        window = batch_spend_window(batch)
        attempt = 0
        while True:
            context = JobContext(
                reservation_id=f"batch:{batch_id}:{line}" + (f":{attempt}" if attempt else ""),
                windows=(window,) if window is not None else (),
                rate_limits=(batch_rate_limit(active.policy, team),),
                ledger={"batch_id": batch_id, "batch_line": str(line)},
                before_call=still_wanted,
                before_settle=keep,
            )
            try:
                outcome = await service.generate(principal, request, request_id, job=context)
            except DuplicateReservation:
                # An earlier run finished this reservation: its line is stored if it was
                # charged; if not (it was released), run again under the next id.
                if await self.blobs.size(item_key(team, batch_id, line)) is not None:
                    return await self.recover(team, batch_id, line)
                attempt += 1
                continue
            except ItemCancelled:
                return await cancelled()
            except BudgetExceeded as exc:
                if exc.blocking == spend_window_name(batch_id) and exc.shortfall_is_spent:
                    refusal = BudgetExceeded(
                        "The batch reached its metadata.max_spend_usd; this request was not "
                        "sent to any model.",
                        code="batch_max_spend_reached",
                    )
                    return await self.failed(team, batch_id, line, custom_id, line_id, refusal)
                return await self.wait(job, batch)
            except (RateLimited, StoreUnavailable, Overloaded) as exc:
                retry_after = float(exc.headers.get("retry-after", "1"))
                return await self.wait(job, batch, at_least=retry_after)
            except GatewayError as exc:
                return await self.failed(team, batch_id, line, custom_id, line_id, exc)
            recorded = await self.state.record_item(
                team, batch_id, line, "completed", outcome.cost_micros
            )
            await self.after_record(team, batch_id, recorded)
            return "completed"

    def _success_line(self, line_id: str, custom_id: str, outcome: Outcome) -> bytes:
        head = orjson.dumps({"id": line_id, "custom_id": custom_id, "response": None})[
            : -len(b"null}")
        ]
        response = (
            b'{"status_code":200,"request_id":'
            + orjson.dumps(outcome.request_id)
            + b',"body":'
            + b"".join(bytes(piece) for piece in outcome.body())
            + b"}"
        )
        summary: dict[str, object] = {
            "tier": outcome.decision.tier,
            "model": outcome.decision.model,
            "cost_usd": format_usd(outcome.cost_micros),
            "reasons": list(outcome.decision.reasons),
        }
        if outcome.verification is not None:
            summary["verify"] = outcome.verification.header()
        tiergate = orjson.dumps(summary)
        return head + response + b',"error":null,"tiergate":' + tiergate + b"}"

    async def wait(self, job: dict[str, Any], batch: dict[str, str], at_least: float = 0.0) -> str:
        """Back to the queue, due again after a jittered, growing pause (never past expiry)."""
        waits = int(job.get("w", 0))
        pause = max(at_least, min(MAX_WAIT_SECONDS, 0.25 * 2**waits)) * random.uniform(0.75, 1.25)
        due = min(time.time() + pause, int(batch["expires_at"]) + 0.05)
        await self.queue.delay(encode_job({**job, "w": waits + 1}), int(due * 1000))
        return "waiting"

    async def failed(
        self,
        team: str,
        batch_id: str,
        line: int,
        custom_id: str | None,
        line_id: str,
        error: GatewayError,
        request_id: str | None = None,
    ) -> str:
        body = output_line(
            line_id,
            custom_id,
            error.status_code,
            request_id or f"{batch_id}-{line}",
            error.to_body(),
        )
        await self.blobs.put(item_key(team, batch_id, line), item_blob("failed", 0, body))
        recorded = await self.state.record_item(team, batch_id, line, "failed", 0)
        await self.after_record(team, batch_id, recorded)
        return "failed"

    async def never_ran(
        self,
        team: str,
        batch_id: str,
        line: int,
        custom_id: str | None,
        line_id: str,
        code: str,
        message: str,
    ) -> str:
        if await self.blobs.size(item_key(team, batch_id, line)) is None:
            body = error_line(line_id, custom_id, code, message)
            await self.blobs.put(item_key(team, batch_id, line), item_blob("failed", 0, body))
        recorded = await self.state.record_item(team, batch_id, line, "failed", 0)
        await self.after_record(team, batch_id, recorded)
        return code.removeprefix("batch_")

    async def recover(self, team: str, batch_id: str, line: int) -> str:
        """An earlier run stored this item's line and finished its reservation: record it."""
        stored = await self.blobs.get(item_key(team, batch_id, line))
        header = orjson.loads(stored.split(b"\n", 1)[0])
        recorded = await self.state.record_item(
            team, batch_id, line, header["outcome"], int(header["cost_micros"])
        )
        await self.after_record(team, batch_id, recorded)
        return "recovered"

    async def after_record(self, team: str, batch_id: str, recorded: ItemRecorded) -> None:
        if recorded.all_done:
            await self.queue.push([encode_job({"k": "finalize", "t": team, "b": batch_id})])
