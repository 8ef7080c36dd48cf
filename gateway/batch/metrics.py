"""Prometheus metrics of batch work, on the registry of the process that does it.

tiergate_batch_queue_jobs{state}        waiting | running | delayed (sampled)
tiergate_batch_items_in_flight          items this process is running
tiergate_batch_item_seconds{outcome}    histogram of an item's time in a worker
tiergate_batch_jobs_total{outcome}      completed, failed, waiting, expired, cancelled…
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gateway.batch.queue import QueueDepth

ITEM_BUCKETS_SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 12, 16, 24, 32, 60, 120)


class BatchMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.queue = Gauge(
            "tiergate_batch_queue_jobs",
            "Batch jobs in the shared queue, by state.",
            ["state"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "tiergate_batch_items_in_flight",
            "Batch jobs this process is running.",
            registry=registry,
        )
        self.item_seconds = Histogram(
            "tiergate_batch_item_seconds",
            "Time a batch job spent in a worker, by outcome.",
            ["outcome"],
            buckets=ITEM_BUCKETS_SECONDS,
            registry=registry,
        )
        self.jobs = Counter(
            "tiergate_batch_jobs", "Batch jobs run, by outcome.", ["outcome"], registry=registry
        )

    def observe_depth(self, depth: QueueDepth) -> None:
        self.queue.labels("waiting").set(depth.waiting)
        self.queue.labels("running").set(depth.running)
        self.queue.labels("delayed").set(depth.delayed)

    def observe_job(self, outcome: str, seconds: float) -> None:
        self.jobs.labels(outcome).inc()
        self.item_seconds.labels(outcome).observe(seconds)
