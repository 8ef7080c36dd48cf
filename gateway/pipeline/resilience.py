"""Calling a tier through failures: bounded jittered retries, a circuit breaker per tier, fallbacks.

``ResilientCaller.call`` tries the chosen tier, retrying connection errors, 429s
and 5xx with jittered exponential backoff (honouring ``Retry-After``), then each
fallback tier the policy and the team allow. Breakers are per replica: a tier
that keeps failing is skipped until a half-open probe succeeds.
"""

from __future__ import annotations

import asyncio
import copy
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import structlog

from gateway.errors import GatewayError, UpstreamError, UpstreamTimeout
from gateway.policy.schema import CircuitBreakerConfig, Policy, Team
from gateway.upstream.backend import ImageBackend, UpstreamCall, UpstreamResult

log = structlog.get_logger("gateway.pipeline.resilience")

RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


class CircuitState(StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


class CircuitBreaker:
    def __init__(
        self, config: CircuitBreakerConfig, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self.clock = clock
        self._failures: deque[float] = deque()
        self._opened_at: float | None = None
        self._probe_in_flight = False

    @property
    def state(self) -> CircuitState:
        if self._opened_at is None:
            return CircuitState.closed
        if self.clock() - self._opened_at >= self.config.open_seconds:
            return CircuitState.half_open
        return CircuitState.open

    def allow(self) -> bool:
        state = self.state
        if state is CircuitState.closed:
            return True
        if state is CircuitState.half_open and not self._probe_in_flight:
            self._probe_in_flight = True
            return True
        return False

    def abandon_probe(self) -> None:
        """The half-open probe ended without an answer either way (cancelled)."""
        self._probe_in_flight = False

    def record_success(self) -> None:
        self._failures.clear()
        self._opened_at = None
        self._probe_in_flight = False

    def record_failure(self) -> None:
        now = self.clock()
        if self._probe_in_flight or self._opened_at is not None:
            self._opened_at = now  # a failed probe re-opens for another full period
            self._probe_in_flight = False
            return
        self._failures.append(now)
        while self._failures and now - self._failures[0] > self.config.window_seconds:
            self._failures.popleft()
        if len(self._failures) >= self.config.failure_threshold:
            self._opened_at = now
            self._failures.clear()


def is_retryable(error: GatewayError) -> bool:
    if isinstance(error, UpstreamTimeout):
        return False  # a hang would only hang again; fall back instead
    if not isinstance(error, UpstreamError):
        return False
    status = getattr(error, "upstream_status", None)
    return status is None or status in RETRYABLE_STATUSES


@dataclass(frozen=True, slots=True)
class CallOutcome:
    result: UpstreamResult
    tier: str
    attempts: int
    fell_back_from: str | None


Sleep = Callable[[float], Awaitable[None]]


class ResilientCaller:
    def __init__(
        self,
        policy: Policy,
        backend: ImageBackend,
        *,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self.backend = backend
        self.sleep = sleep
        self.rng = rng or random.Random()
        self._clock = clock
        self.breakers = {
            name: CircuitBreaker(tier.circuit_breaker, clock) for name, tier in policy.tiers.items()
        }

    def with_policy(self, policy: Policy) -> ResilientCaller:
        """A caller for a reloaded policy on the same backend; a tier whose breaker settings
        did not change keeps its breaker (an open circuit stays open across a reload)."""
        other = copy.copy(self)
        other.policy = policy
        other.breakers = {
            name: self.breakers[name]
            if name in self.breakers
            and self.policy.tiers[name].circuit_breaker == tier.circuit_breaker
            else CircuitBreaker(tier.circuit_breaker, self._clock)
            for name, tier in policy.tiers.items()
        }
        return other

    def fallback_chain(self, team: Team, tier: str, forced: bool) -> list[str]:
        """The tier followed by the fallbacks this team allows (none for a forced tier)."""
        chain = [tier]
        if forced:
            return chain
        rank = self.policy.routing.precedence.index
        for candidate in self.policy.routing.fallbacks.get(tier, ()):
            if candidate in chain:
                continue
            if team.allowed_tiers is not None and candidate not in team.allowed_tiers:
                continue
            downgrade = rank(candidate) > rank(tier)
            if team.allow_downgrade_fallback if downgrade else team.allow_upgrade_fallback:
                chain.append(candidate)
        return chain

    def circuit_states(self) -> dict[str, str]:
        return {name: breaker.state.value for name, breaker in self.breakers.items()}

    async def call(
        self, chain: Sequence[str], make_call: Callable[[str], UpstreamCall]
    ) -> CallOutcome:
        last_error: GatewayError | None = None
        attempts = 0
        for tier_name in chain:
            breaker = self.breakers[tier_name]
            if not breaker.allow():
                log.warning("circuit_open_skip", tier=tier_name)
                last_error = last_error or UpstreamError(
                    f"The {tier_name} tier is unavailable (circuit open).", code="circuit_open"
                )
                continue
            tier = self.policy.tiers[tier_name]
            call = make_call(tier_name)
            for retry in range(tier.max_retries + 1):
                attempts += 1
                try:
                    result = await self._generate(tier_name, call)
                except asyncio.CancelledError:
                    breaker.abandon_probe()  # not the tier's fault; let the next call probe
                    raise
                except GatewayError as error:
                    if not isinstance(error, UpstreamError | UpstreamTimeout):
                        breaker.record_success()  # the tier answered; the request was at fault
                        raise
                    last_error = error
                    log.warning(
                        "upstream_failed",
                        tier=tier_name,
                        attempt=attempts,
                        code=error.code,
                        upstream_status=getattr(error, "upstream_status", None),
                        # ours: the tier and the status or exception class, never its text
                        message=error.message,
                    )
                    delay = (
                        self._backoff_seconds(tier.retry_backoff_ms, retry, error)
                        if retry < tier.max_retries and is_retryable(error) and breaker.allow()
                        else None
                    )
                    if delay is None or delay > tier.max_retry_after_seconds:
                        # The breaker counts requests the tier failed, retries and all: a
                        # burst of pooled connections the tier had closed fails at once and
                        # succeeds on retry (two workers at 5,000 in flight: 30 in a second),
                        # and counting each attempt opened the circuit on a healthy tier.
                        breaker.record_failure()
                        break
                    await self.sleep(delay)
                    continue
                breaker.record_success()
                return CallOutcome(
                    result, tier_name, attempts, chain[0] if tier_name != chain[0] else None
                )
        assert last_error is not None
        raise last_error

    async def _generate(self, tier_name: str, call: UpstreamCall) -> UpstreamResult:
        """The backend's call, within the tier's per-attempt ``timeout_seconds`` in total.

        Client timeouts bound each connect and each read, so a body that trickles in could
        run far past them; every bound derived from the policy (reservation deadlines,
        idempotency claims) assumes an attempt ends within ``timeout_seconds``. Anything the
        backend raises that is not ours is an upstream failure.
        """
        try:
            async with asyncio.timeout(call.timeout_seconds):
                return await self.backend.generate(call)
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"The {tier_name} tier did not finish within {call.timeout_seconds:g} s."
            ) from exc
        except (GatewayError, asyncio.CancelledError):
            raise
        except Exception as exc:
            # Backends translate what they know; this is what they did not foresee (an
            # unexpected body shape, a client-library bug). It is the tier's answer that
            # failed, so it is a 502 that counts against the breaker, not a 500.
            log.exception("upstream_unexpected_error", tier=tier_name)
            raise UpstreamError(
                f"The {tier_name} tier's answer could not be used ({type(exc).__name__})."
            ) from exc

    def _backoff_seconds(self, base_ms: int, retry: int, error: GatewayError) -> float | None:
        retry_after = getattr(error, "retry_after_seconds", None)
        if retry_after is not None:
            return float(retry_after)
        # Full jitter: uniform in [0, base * 2**retry].
        return self.rng.uniform(0, base_ms * (2**retry)) / 1000
