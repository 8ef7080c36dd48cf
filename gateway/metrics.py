"""Prometheus metrics of one app, in its own ``CollectorRegistry`` (never the global default).

Label values are bounded: tiers and teams come from the policy, categories from the
classifier, ``reason`` is a routing reason code's prefix before ':' (``headline``, not
``headline:quoted_text_2_tokens``) and rejection reasons are one of ``REJECTION_KINDS``.

    tiergate_requests_total{tier,category,status,reason}  one per fired category
    tiergate_request_latency_seconds{tier}               histogram
    tiergate_cost_micros_total{team,tier}
    tiergate_budget_remaining_micros{team,period}        tightest window per period
    tiergate_classifier_seconds                          histogram
    tiergate_circuit_state{tier}                         0 closed, 1 half-open, 2 open (at scrape)
    tiergate_rejections_total{team,reason}
    tiergate_in_flight_requests                          image requests this worker holds
    tiergate_in_flight_limit                             the adaptive limit on them
    tiergate_overload_refusals_total{reason}             503 server_overloaded: in_flight, loop_lag
    tiergate_event_loop_lag_seconds                      how late the loop runs a timer
    tiergate_policy_info{digest}                         1 for the policy in force
    tiergate_policy_reloads_total{result}                ok, failed
    tiergate_policy_reload_failing                       1 while the last reload failed
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.budget.store import WindowState
from gateway.usage import LATENCY_BUCKETS_MS


class LagView(Protocol):
    @property
    def lag_seconds(self) -> float: ...


class WorkerLoadView(Protocol):
    """What the metrics read of a worker's load (``WorkerLoad``, gateway/api/backpressure.py)."""

    @property
    def in_flight(self) -> int: ...
    @property
    def refused(self) -> Mapping[str, int]: ...
    @property
    def monitor(self) -> LagView: ...
    @property
    def limit(self) -> int | None: ...


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REJECTION_KINDS = ("budget", "rate", "upstream", "other")
CIRCUIT_VALUES = {"closed": 0, "half_open": 1, "open": 2}
LATENCY_BUCKETS_SECONDS = tuple(ms / 1000 for ms in LATENCY_BUCKETS_MS)
CLASSIFIER_BUCKETS_SECONDS = (
    0.00001,
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.05,
)
NO_CATEGORY = "none"
NO_REASON = "none"


def reason_prefix(code: str) -> str:
    return code.split(":", 1)[0] or NO_REASON


class CircuitCollector(Collector):
    """Reads the circuit breakers' states when Prometheus scrapes."""

    def __init__(self, circuit_states: Callable[[], Mapping[str, str]]) -> None:
        self._circuit_states = circuit_states

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "tiergate_circuit_state",
            "Circuit breaker state per tier: 0 closed, 1 half-open, 2 open.",
            labels=["tier"],
        )
        for tier, state in sorted(self._circuit_states().items()):
            family.add_metric([tier], CIRCUIT_VALUES.get(state, 2))
        yield family


class LoadCollector(Collector):
    """Reads the worker's load (``gateway.api.backpressure.WorkerLoad``) when scraped."""

    def __init__(self, load: WorkerLoadView) -> None:
        self._load = load

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "tiergate_in_flight_requests",
            "Image requests this worker holds.",
            value=self._load.in_flight,
        )
        if self._load.limit is not None:
            yield GaugeMetricFamily(
                "tiergate_in_flight_limit",
                "The in-flight limit this worker's CPU can carry (adaptive).",
                value=self._load.limit,
            )
        refusals = CounterMetricFamily(
            "tiergate_overload_refusals",
            "Image requests refused with 503 server_overloaded, by reason.",
            labels=["reason"],
        )
        for reason, count in self._load.refused.items():
            refusals.add_metric([reason], count)
        yield refusals
        yield GaugeMetricFamily(
            "tiergate_event_loop_lag_seconds",
            "How late this worker's event loop runs a timer (smoothed).",
            value=self._load.monitor.lag_seconds,
        )


class PolicyCollector(Collector):
    def __init__(self, view: Callable[[], tuple[str, Mapping[str, int], bool]]) -> None:
        self._view = view

    def collect(self) -> Iterator[Metric]:
        digest, reloads, failing = self._view()
        info = GaugeMetricFamily(
            "tiergate_policy_info", "The policy in force, by content hash.", labels=["digest"]
        )
        info.add_metric([digest], 1)
        yield info
        counted = CounterMetricFamily(
            "tiergate_policy_reloads", "Policy reloads by result.", labels=["result"]
        )
        for result in ("ok", "failed"):
            counted.add_metric([result], reloads.get(result, 0))
        yield counted
        yield GaugeMetricFamily(
            "tiergate_policy_reload_failing",
            "1 while the policy file does not validate (the previous policy is in force).",
            value=1 if failing else 0,
        )


class Metrics:
    def __init__(
        self,
        circuit_states: Callable[[], Mapping[str, str]] | None = None,
        load: WorkerLoadView | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "tiergate_requests",
            "Requests by tier, fired category, status and reason prefix.",
            ["tier", "category", "status", "reason"],
            registry=r,
        )
        self.latency = Histogram(
            "tiergate_request_latency_seconds",
            "Upstream latency of served requests.",
            ["tier"],
            buckets=LATENCY_BUCKETS_SECONDS,
            registry=r,
        )
        self.cost = Counter(
            "tiergate_cost_micros", "Settled cost in micro-dollars.", ["team", "tier"], registry=r
        )
        self.budget_remaining = Gauge(
            "tiergate_budget_remaining_micros",
            "Remaining budget of the tightest window per period, as last seen by a request.",
            ["team", "period"],
            registry=r,
        )
        self.classifier = Histogram(
            "tiergate_classifier_seconds",
            "Prompt classification time.",
            buckets=CLASSIFIER_BUCKETS_SECONDS,
            registry=r,
        )
        self.rejections = Counter(
            "tiergate_rejections",
            "Requests refused, by team and kind.",
            ["team", "reason"],
            registry=r,
        )
        if circuit_states is not None:
            r.register(CircuitCollector(circuit_states))
        if load is not None:
            r.register(LoadCollector(load))

    def watch_policy(self, view: Callable[[], tuple[str, Mapping[str, int], bool]]) -> None:
        """``view``: the digest in force, reload counts and whether the last reload failed."""
        self.registry.register(PolicyCollector(view))

    def observe_request(
        self,
        *,
        team: str,
        tier: str,
        categories: Iterable[str],
        reasons: Sequence[str],
        status: str = "ok",
        latency_seconds: float | None = None,
        cost_micros: int = 0,
        window_states: Iterable[WindowState] = (),
        remaining_adjust_micros: int = 0,
    ) -> None:
        """One finished request; `remaining_adjust_micros` corrects reserved-estimate states
        to the settled cost (pass ``estimate - cost``)."""
        reason = reason_prefix(reasons[0]) if reasons else NO_REASON
        for category in sorted(set(categories)) or [NO_CATEGORY]:
            self.requests.labels(tier, category, status, reason).inc()
        if latency_seconds is not None:
            self.latency.labels(tier).observe(latency_seconds)
        if cost_micros:
            self.cost.labels(team, tier).inc(cost_micros)
        self.observe_budget(team, window_states, remaining_adjust_micros)

    def observe_rejection(
        self, *, team: str, reason: str, window_states: Iterable[WindowState] = ()
    ) -> None:
        """`reason` is one of REJECTION_KINDS (anything else counts as "other")."""
        kind = reason if reason in REJECTION_KINDS else "other"
        self.rejections.labels(team, kind).inc()
        self.observe_budget(team, window_states)

    def observe_classification(self, seconds: float) -> None:
        self.classifier.observe(seconds)

    def observe_budget(
        self, team: str, window_states: Iterable[WindowState], adjust_micros: int = 0
    ) -> None:
        tightest: dict[str, int] = {}
        for w in window_states:
            remaining = max(0, w.remaining_micros + adjust_micros)
            tightest[w.period] = min(tightest.get(w.period, remaining), remaining)
        for period, remaining in tightest.items():
            self.budget_remaining.labels(team, period).set(remaining)

    def render(self) -> bytes:
        return generate_latest(self.registry)
