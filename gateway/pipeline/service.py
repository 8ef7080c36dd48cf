"""The request path for one image generation: snapshot -> decide -> reserve -> call -> settle.

Handlers stay thin; this module holds the sequence and nothing else. Deciding is
pure (``routing``); I/O happens at the edges (``admission`` for budgets,
``upstream`` for the model tiers). Whatever path a request takes, its reservation
is settled or released exactly once.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from gateway.admission.headers import budget_headers, rate_headers
from gateway.admission.reservations import Admission, Ticket
from gateway.api.models import ImageEditRequest, ImageGenerationRequest
from gateway.auth import Principal
from gateway.budget.store import RateLimit, Window
from gateway.classify import Classification, Classifier
from gateway.errors import BudgetExceeded, GatewayError, InvalidRequest, PermissionDenied
from gateway.pipeline.outcome import Outcome
from gateway.pipeline.pricing import Pricing
from gateway.pipeline.resilience import ResilientCaller
from gateway.pipeline.routing import RouteContext, RoutingDecision, decide_route
from gateway.policy.schema import Policy
from gateway.tokens import count_text_tokens
from gateway.upstream.backend import OnPartial, UpstreamCall
from gateway.usage import cancelled_increments, success_increments, unsettled_increments
from gateway.verify.check import TextCheck, Verification
from gateway.verify.escalation import check_and_escalate
from gateway.verify.plan import VerifyPlan, verify_plan
from gateway.verify.usage import add_verification, verification_ledger

log = structlog.get_logger("gateway.pipeline.service")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class JobContext:
    """How a background job (a batch item) runs through the same request path.

    Its reservation id is the job's own, so a retried job takes over its outstanding
    reservation and a finished one is never charged again (``DuplicateReservation``);
    ``windows`` and ``rate_limits`` are checked with the caller's own (a batch's spend cap,
    the team's batch limits); ``ledger`` fields join the ledger entry; ``before_call`` runs
    once admitted, before the tier is called (raise a ``GatewayError`` to stop: the
    reservation is released); ``before_settle`` gets the outcome before it is charged (to
    keep the result: if it raises, nothing is charged and the error propagates).
    """

    reservation_id: str
    source: str = "batch"
    windows: tuple[Window, ...] = ()
    rate_limits: tuple[RateLimit, ...] = ()
    ledger: Mapping[str, str] = field(default_factory=dict)
    before_call: Callable[[], Awaitable[None]] | None = None
    before_settle: Callable[[Outcome], Awaitable[None]] | None = None


def upstream_call(
    policy: Policy,
    tier_name: str,
    request: ImageGenerationRequest,
    on_partial: OnPartial | None = None,
) -> UpstreamCall:
    """The call to make on a tier for a request (400 when the tier cannot serve its n).
    ``on_partial`` gets the partial images of a streamed request on a tier that streams."""
    tier = policy.tiers[tier_name]
    if request.n > tier.max_images:
        raise InvalidRequest(
            f"Invalid 'n': the {tier_name} tier generates at most {tier.max_images} "
            "image(s) per request.",
            param="n",
        )
    extra: dict[str, object] = {}
    for name in (
        "output_format",
        "background",
        "user",
        "output_compression",
        "moderation",
        "style",
    ):
        value = getattr(request, name)
        if value is not None:
            extra[name] = value
    edit = request if isinstance(request, ImageEditRequest) else None
    streams = on_partial is not None and request.stream and tier.streams
    if edit is not None and edit.input_fidelity is not None:
        extra["input_fidelity"] = edit.input_fidelity
    return UpstreamCall(
        tier=tier_name,
        model=tier.model,
        prompt=request.prompt,
        n=request.n,
        size=request.resolved_size,
        quality=request.resolved_quality.value if tier.quality_param else None,
        api_base=tier.api_base,
        api_key=tier.api_key.get_secret_value() if tier.api_key else None,
        api_version=tier.api_version,
        timeout_seconds=tier.timeout_seconds,
        extra=extra,
        images=edit.images if edit is not None else (),
        mask=edit.mask if edit is not None else None,
        partial_images=(request.partial_images or 0) if streams else 0,
        on_partial=on_partial if streams else None,
    )


class ImageService:
    def __init__(
        self,
        policy: Policy,
        classifier: Classifier,
        caller: ResilientCaller,
        admission: Admission,
        clock: Clock = utc_now,
        text_check: TextCheck | None = None,
    ) -> None:
        self.policy = policy
        self.classifier = classifier
        self.caller = caller
        self.admission = admission
        self.clock = clock
        self.text_check = text_check
        self.pricing = Pricing(policy)

    def decide(
        self, principal: Principal, request: ImageGenerationRequest, context: RouteContext
    ) -> tuple[RoutingDecision, Classification]:
        if principal.team is None:
            raise PermissionDenied("Admin keys cannot generate images; use a team key.")
        started = time.perf_counter()
        classification = self.classifier.classify(request.prompt)
        self.admission.metrics.observe_classification(time.perf_counter() - started)
        decision = decide_route(self.policy, principal.team, request.model, classification, context)
        return decision, classification

    def upstream_call(self, tier_name: str, request: ImageGenerationRequest) -> UpstreamCall:
        return upstream_call(self.policy, tier_name, request)

    async def generate(
        self,
        principal: Principal,
        request: ImageGenerationRequest,
        request_id: str,
        max_latency_ms: int | None = None,
        job: JobContext | None = None,
        verify: str | None = None,
        on_partial: OnPartial | None = None,
    ) -> Outcome:
        """``verify``: the request's ``x-tiergate-verify`` choice (``on``, ``off``, None);
        ``on_partial``: where a streamed request's partial images go as they arrive."""
        if principal.team is None:
            raise PermissionDenied("Admin keys cannot generate images; use a team key.")
        now = self.clock()
        context, _ = await self.admission.route_context(principal, now, max_latency_ms)
        decision, classification = self.decide(principal, request, context)
        assert principal.team is not None
        chain = self.caller.fallback_chain(
            self.policy.teams[principal.team], decision.tier, decision.forced
        )
        prompt_tokens = count_text_tokens(request.prompt)
        categories = [str(c) for c in classification.categories]
        baseline_estimate = self.pricing.baseline_estimate(request, prompt_tokens)
        # Reserve the worst case over every tier the request may end up on.
        # A fallback that cannot serve this request (its sizes or its images per call) is
        # left out of the chain; the chosen tier's own refusal is the client's 400.
        estimates = {}
        for name in chain:
            try:
                self.upstream_call(name, request)
                estimates[name] = self.pricing.estimate(name, request, prompt_tokens)
            except InvalidRequest:
                if name == decision.tier:
                    raise
        chain = [name for name in chain if name in estimates]
        estimate = max(estimates.values())
        plan = (
            verify_plan(self.policy, principal.team, classification, decision.tier, verify)
            if self.text_check is not None
            else None
        )
        escalation_estimate = self._escalation_estimate(plan, request, prompt_tokens)
        deadline_seconds = sum(
            self.policy.tiers[t].timeout_seconds * (self.policy.tiers[t].max_retries + 1)
            + self.policy.tiers[t].max_retry_after_seconds * self.policy.tiers[t].max_retries
            for t in (*chain, *([plan.escalate_to] if escalation_estimate and plan else []))
            if t is not None
        )
        ledger_extra: Mapping[str, str] = {"source": job.source, **job.ledger} if job else {}
        reservation_id = job.reservation_id if job else uuid.uuid4().hex

        async def reserve(amount: int, count_refusal: bool = True) -> Ticket:
            return await self.admission.reserve(
                principal,
                reservation_id=reservation_id,
                estimate_micros=amount,
                timeout_seconds=deadline_seconds,
                now=now,
                meta={
                    **self._ledger_fields(principal, request, decision, classification, request_id),
                    **ledger_extra,
                    "estimate_micros_at_reserve": str(amount),
                    "baseline_estimate_micros": str(baseline_estimate),
                },
                extra_windows=job.windows if job else (),
                extra_rate_limits=job.rate_limits if job else (),
                count_refusal=count_refusal,
            )

        # A verified request holds the worst case of both calls, so an escalation can never
        # overspend; when only one call fits, it runs alone and cannot escalate.
        escalation_blocked = False
        try:
            ticket = await reserve(estimate + escalation_estimate, not escalation_estimate)
        except BudgetExceeded:
            if not escalation_estimate:
                raise
            escalation_blocked = True
            ticket = await reserve(estimate)
        estimate = ticket.estimate_micros
        # What the aggregates count if the estimate is what gets charged.
        charged_at_estimate: dict[str, Any] = {
            "tier": decision.tier,
            "images": request.n,
            "estimate_micros": estimate,
            "baseline_micros": baseline_estimate,
            "categories": categories,
        }
        # What the reaper counts if it charges this reservation: a late settle or release
        # takes it back.
        reaped_counters = unsettled_increments(**charged_at_estimate)

        def released_ledger() -> dict[str, str]:
            """The ledger entry of a release that refunds a reaped reservation."""
            fields = self._ledger_fields(principal, request, decision, classification, request_id)
            return {**fields, **ledger_extra, "status": "released", "cost_micros": "0"}

        async def settle_cancelled() -> None:
            """Cancelled mid-call (client gone, shutdown): the vendor may have billed us, so
            the estimate is charged rather than released; it is marked estimated."""
            await self._settle_estimate(
                ticket,
                principal,
                request,
                decision,
                classification,
                request_id,
                usage=cancelled_increments(**charged_at_estimate),
                if_reaped=reaped_counters,
            )

        started = time.perf_counter()
        try:
            if job is not None and job.before_call is not None:
                await job.before_call()
            called = await self.caller.call(
                chain, lambda t: upstream_call(self.policy, t, request, on_partial)
            )
        except GatewayError as exc:
            await asyncio.shield(self._release(ticket, exc, released_ledger(), reaped_counters))
            raise
        except asyncio.CancelledError:
            await asyncio.shield(settle_cancelled())
            raise
        except Exception as exc:
            # A bug of ours (the caller turns every backend failure into a GatewayError):
            # nothing was produced, so nothing is charged; the client gets a 500.
            await asyncio.shield(self._release(ticket, exc, released_ledger(), reaped_counters))
            raise
        result = called.result
        if called.fell_back_from is not None:
            decision = RoutingDecision(
                called.tier,
                self.policy.tiers[called.tier].model,
                (*decision.reasons, f"fallback:{called.fell_back_from}_to_{called.tier}"),
                forced=decision.forced,
                classified_tier=decision.classified_tier,
            )
        text_tokens, image_tokens, cost, reported = self.pricing.priced(
            decision.tier, request, result, prompt_tokens
        )
        verification: Verification | None = None
        first_tier, first_cost = decision.tier, cost
        if plan is not None and decision.tier == plan.escalate_to:
            plan = None  # the call fell back to the tier it would escalate to
        if plan is not None:
            try:
                assert self.text_check is not None
                step = await check_and_escalate(
                    self.text_check,
                    self.pricing,
                    plan,
                    request,
                    result,
                    decision.tier,
                    prompt_tokens,
                    escalation_reserved=escalation_estimate > 0,
                    escalation_blocked=escalation_blocked,
                    call=lambda tier: self.caller.call(
                        [tier], lambda t: self.upstream_call(t, request)
                    ),
                )
            except asyncio.CancelledError:
                await asyncio.shield(settle_cancelled())
                raise
            verification = step.verification if step is not None else None
            cost += verification.escalation_cost_micros if verification is not None else 0
            if step is not None and step.replacement is not None:
                result, (text_tokens, image_tokens, _, reported) = step.replacement
                decision = RoutingDecision(
                    step.verification.escalated_to or decision.tier,
                    self.policy.tiers[step.verification.escalated_to or decision.tier].model,
                    (*decision.reasons, f"verify:escalated_to_{step.verification.escalated_to}"),
                    forced=decision.forced,
                    classified_tier=decision.classified_tier,
                )
        latency_ms = (time.perf_counter() - started) * 1000
        input_image_tokens = request.input_image_tokens
        baseline = self.pricing.baseline_cost(text_tokens, image_tokens, input_image_tokens)
        ledger = self._ledger_fields(principal, request, decision, classification, request_id)
        ledger.update(ledger_extra)
        ledger.update(
            status="ok",
            text_tokens=str(text_tokens),
            image_tokens=str(image_tokens),
            **({"input_image_tokens": str(input_image_tokens)} if input_image_tokens else {}),
            cost_micros=str(cost),
            baseline_cost_micros=str(baseline),
            latency_ms=f"{latency_ms:.1f}",
            usage="reported" if reported else "estimated",
            attempts=str(called.attempts),
            fallback="1" if called.fell_back_from else "0",
        )
        if verification is not None:
            ledger.update(verification_ledger(verification, first_tier, first_cost))
        usage = success_increments(
            tier=decision.tier,
            images=len(result.images_b64),
            cost_micros=cost,
            baseline_micros=baseline,
            text_tokens=text_tokens,
            image_tokens=image_tokens,
            latency_ms=latency_ms,
            categories=categories,
            reasons=decision.reasons,
            downgraded=self._downgraded(decision),
            fallback=called.fell_back_from is not None,
            source=job.source if job else None,
        )
        if verification is not None:
            usage = add_verification(
                usage,
                verification,
                categories,
                first_tier,
                first_cost,
                decision.tier,
            )
        headers = {
            **budget_headers(ticket.result.window_states, adjust_micros=cost - estimate),
            **rate_headers(ticket.result.rate_states, int(now.timestamp() * 1000)),
        }
        outcome = Outcome(
            request_id=request_id,
            decision=decision,
            result=result,
            text_tokens=text_tokens,
            image_tokens=image_tokens,
            input_image_tokens=input_image_tokens,
            cost_micros=cost,
            estimate_micros=estimate,
            usage_reported=reported,
            headers=headers,
            verification=verification,
        )
        if job is not None and job.before_settle is not None:
            try:
                await job.before_settle(outcome)
            except Exception as exc:  # cancelled: left outstanding for the job's next run
                await asyncio.shield(self._release(ticket, exc, released_ledger(), reaped_counters))
                raise
        try:
            await self.admission.settle(
                ticket,
                cost,
                self.clock(),
                ledger=ledger,
                latency=(decision.tier, result.latency_ms),
                usage=usage,
                if_reaped=reaped_counters,
            )
        except GatewayError:
            # Only when the store is down and no journal is configured: the image exists and
            # the estimate stays reserved, so the reaper charges it once the store is back.
            log.error("settle_failed", reservation_id=ticket.reservation_id)
        self.admission.metrics.observe_request(
            team=ticket.team,
            tier=decision.tier,
            categories=categories,
            reasons=decision.reasons,
            latency_seconds=result.latency_ms / 1000,
            cost_micros=cost,
            window_states=ticket.result.window_states,
            remaining_adjust_micros=estimate - cost,
        )
        return outcome

    def _escalation_estimate(
        self, plan: VerifyPlan | None, request: ImageGenerationRequest, prompt_tokens: int
    ) -> int:
        """The worst case of the escalation call, or 0 when there is none to make (no plan,
        or a tier that cannot serve this request's size or n)."""
        if plan is None or plan.escalate_to is None:
            return 0
        try:
            self.upstream_call(plan.escalate_to, request)
            return self.pricing.estimate(plan.escalate_to, request, prompt_tokens)
        except InvalidRequest:
            return 0

    def _downgraded(self, decision: RoutingDecision) -> bool:
        rank = self.policy.routing.precedence.index
        classified = decision.classified_tier or decision.tier
        return rank(decision.tier) > rank(classified)

    def _ledger_fields(
        self,
        principal: Principal,
        request: ImageGenerationRequest,
        decision: RoutingDecision,
        classification: Classification,
        request_id: str,
    ) -> dict[str, str]:
        return {
            "ts_ms": str(int(self.clock().timestamp() * 1000)),
            "request_id": request_id,
            "team": principal.team or "",
            "key_id": principal.key_id,
            "tier": decision.tier,
            "model": decision.model,
            "classified_tier": decision.classified_tier or decision.tier,
            "categories": ";".join(sorted(str(c) for c in classification.categories)),
            "reasons": ",".join(decision.reasons),
            "size": request.resolved_size,
            "quality": request.resolved_quality.value,
            "n": str(request.n),
            **({"operation": "edit"} if isinstance(request, ImageEditRequest) else {}),
        }

    async def _release(
        self,
        ticket: Ticket,
        exc: Exception,
        ledger: dict[str, str],
        if_reaped: dict[str, int],
    ) -> None:
        status = exc.status_code if isinstance(exc, GatewayError) else 500
        kind = "upstream" if status >= 500 else "other"
        await self.admission.count_rejection(ticket.team, kind, self.clock())
        try:
            await self.admission.release(ticket, self.clock(), ledger=ledger, if_reaped=if_reaped)
        except GatewayError:
            cause = exc.code if isinstance(exc, GatewayError) else type(exc).__name__
            log.error("release_failed", reservation_id=ticket.reservation_id, cause=cause)

    async def _settle_estimate(
        self,
        ticket: Ticket,
        principal: Principal,
        request: ImageGenerationRequest,
        decision: RoutingDecision,
        classification: Classification,
        request_id: str,
        *,
        usage: dict[str, int],
        if_reaped: dict[str, int],
    ) -> None:
        ledger = self._ledger_fields(principal, request, decision, classification, request_id)
        ledger.update(
            status="cancelled", cost_micros=str(ticket.estimate_micros), usage="estimated"
        )
        try:
            await self.admission.settle(
                ticket,
                ticket.estimate_micros,
                self.clock(),
                ledger=ledger,
                usage=usage,
                if_reaped=if_reaped,
            )
        except GatewayError:
            log.error("settle_failed", reservation_id=ticket.reservation_id)
