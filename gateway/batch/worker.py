"""``BatchWorker``: pull jobs from the shared queue and run up to ``concurrency`` at once.

Any number of workers, in any processes on any hosts that reach the store, share one
queue. A worker renews the jobs it runs every ``visibility_timeout / 3``; when it dies
(even ``kill -9``) they stop being renewed and the next worker to ask claims them. On a
graceful stop it takes no new jobs and gives running ones ``drain_seconds`` to finish;
what is still running is left unacknowledged, for another worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time

import orjson
import structlog

from gateway.batch.executor import Executor
from gateway.batch.metrics import BatchMetrics
from gateway.batch.queue import Delivery, JobQueue

log = structlog.get_logger("gateway.batch.worker")


def worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{os.urandom(2).hex()}"


class BatchWorker:
    def __init__(
        self,
        executor: Executor,
        queue: JobQueue,
        *,
        concurrency: int = 256,
        name: str | None = None,
        metrics: BatchMetrics | None = None,
        drain_seconds: float = 30.0,
    ) -> None:
        self.executor = executor
        self.queue = queue
        self.concurrency = concurrency
        self.name = name or worker_name()
        self.metrics = metrics
        self.drain_seconds = drain_seconds
        self._running: dict[str, asyncio.Task[None]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        log.info("batch_worker_started", worker=self.name, concurrency=self.concurrency)
        housekeeping = asyncio.create_task(self._housekeep(stop), name="batch-housekeeping")
        try:
            while not stop.is_set():
                free = self.concurrency - len(self._running)
                if free <= 0:
                    await asyncio.wait(
                        list(self._running.values()),
                        timeout=0.5,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    continue
                try:
                    deliveries = await self.queue.pull(self.name, min(free, 100), 1000)
                except Exception as exc:  # the store is down: wait for it, do not exit
                    log.warning("batch_pull_failed", error=type(exc).__name__)
                    await _sleep_unless(stop, 1.0)
                    continue
                for delivery in deliveries:
                    self._start(delivery)
        finally:
            if self._running:
                await asyncio.wait(list(self._running.values()), timeout=self.drain_seconds)
            for task in list(self._running.values()):
                task.cancel()
            housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await housekeeping
            log.info("batch_worker_stopped", worker=self.name)

    def _start(self, delivery: Delivery) -> None:
        task = asyncio.create_task(self._run(delivery))
        self._running[delivery.id] = task

        def forget(_: asyncio.Task[None]) -> None:
            self._running.pop(delivery.id, None)

        task.add_done_callback(forget)

    async def _run(self, delivery: Delivery) -> None:
        started = time.perf_counter()
        if self.metrics is not None:
            self.metrics.in_flight.inc()
        outcome = "error"
        try:
            job = orjson.loads(delivery.job)
            names = {"b": "batch_id", "t": "team", "l": "batch_line", "k": "batch_job"}
            structlog.contextvars.bind_contextvars(
                **{name: job[key] for key, name in names.items() if key in job}
            )
            outcome = await self.executor.handle(job)
            await self.queue.ack([delivery.id])
        except asyncio.CancelledError:
            outcome = "interrupted"
            raise
        except Exception:
            # Left unacknowledged: claimed again after the visibility timeout.
            log.exception("batch_job_failed", delivery=delivery.id)
        finally:
            if self.metrics is not None:
                self.metrics.in_flight.dec()
                self.metrics.observe_job(outcome, time.perf_counter() - started)

    async def _housekeep(self, stop: asyncio.Event) -> None:
        interval = min(1.0, self.queue.visibility_timeout_ms / 3000)
        last_renewal = 0.0
        while not stop.is_set():
            try:
                now = time.monotonic()
                if now - last_renewal >= self.queue.visibility_timeout_ms / 3000:
                    await self.queue.touch(self.name, list(self._running))
                    last_renewal = now
                await self.queue.promote_due(int(time.time() * 1000))
                if self.metrics is not None:
                    self.metrics.observe_depth(await self.queue.depth())
            except Exception as exc:
                log.warning("batch_housekeeping_failed", error=type(exc).__name__)
            await _sleep_unless(stop, interval)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
