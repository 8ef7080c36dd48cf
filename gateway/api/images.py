"""``POST /v1/images/generations`` and ``POST /v1/route/explain``."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine
from typing import Any, cast

import structlog
from fastapi import APIRouter, Request
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Message, Receive

from gateway.admission import idempotency
from gateway.api.models import ErrorResponse, ImageGenerationRequest, ImagesResponse
from gateway.api.parsing import decode_body, parse_json_body
from gateway.api.rendering import base_url, sse_response, url_response
from gateway.api.responses import JSONBytesResponse, JSONPiecesResponse
from gateway.api.state import AppState, get_state
from gateway.api.streaming import stream_images
from gateway.auth import Principal
from gateway.errors import (
    GatewayError,
    IdempotencyConflict,
    InvalidRequest,
    PayloadTooLarge,
    PermissionDenied,
    RequestTimeout,
)
from gateway.pipeline.outcome import format_usd
from gateway.pipeline.pricing import estimate_usage
from gateway.pipeline.serving import Serving
from gateway.policy.live import Active
from gateway.tokens import count_text_tokens
from gateway.upstream.backend import OnPartial
from gateway.verify.plan import HEADER as VERIFY_HEADER
from gateway.verify.plan import header_choice

log = structlog.get_logger("gateway.api.images")
router = APIRouter()

BODY_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ImageGenerationRequest"}}
        },
    }
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 403, 409, 413, 429, 502, 503, 504)
}
#: An image response: JSON, or (``stream: true``) Server-Sent Events.
IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The images, as JSON; with `stream: true`, as `text/event-stream` "
        "events (`image_generation.completed`, `image_edit.completed`).",
        "content": {
            "text/event-stream": {
                "schema": {
                    "type": "object",
                    "description": "One event: `event` names it, `data` is its JSON.",
                    "properties": {"event": {"type": "string"}, "data": {"type": "string"}},
                    "required": ["event", "data"],
                }
            }
        },
    },
    **_ERRORS,
}


MAX_LATENCY_HEADER = "x-tiergate-max-latency-ms"
_MILLISECONDS = re.compile(r"[0-9]{1,7}")


def max_latency_header(value: str | None) -> int | None:
    if value is None:
        return None
    # ASCII digits only: str.isdigit() also accepts "²", which int() then refuses.
    if not _MILLISECONDS.fullmatch(value.strip()) or not 0 < int(value) <= 3_600_000:
        raise InvalidRequest(
            f"Invalid '{MAX_LATENCY_HEADER}': expected milliseconds between 1 and 3600000.",
            param=MAX_LATENCY_HEADER,
        )
    return int(value)


async def read_raw_body(request: Request, state: AppState) -> bytes:
    limit = state.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
    chunks = bytearray()
    try:
        async with asyncio.timeout(state.settings.body_timeout_seconds):
            async for chunk in request.stream():
                chunks += chunk
                if len(chunks) > limit:
                    raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
    except TimeoutError:
        raise RequestTimeout("The request body was not received in time.") from None
    except ClientDisconnect:
        # Nobody will read the answer; this keeps it out of the unhandled-error log as a 500.
        raise InvalidRequest(
            "The client closed the connection before the body was received.",
            code="client_disconnected",
        ) from None
    return decode_body(bytes(chunks), request.headers.get("content-encoding"), limit)


def client_gone(receive: Receive) -> bool:
    """Whether the client has closed the connection, asked without waiting (once the body is
    read, the server's next message is ``http.disconnect``, and it is ready at once only if
    the client has left).

    The receive coroutine is stepped once and closed if it would wait. Starlette's
    ``Request.is_disconnected`` does the same through an anyio cancel scope: 90 us a call on
    a 2-core VM, a fifth of a fast request's added latency.
    """
    pending = receive()
    if not isinstance(pending, Coroutine):  # not an async def receive: cannot ask cheaply
        return False
    step = cast(Coroutine[Any, Any, Message], pending)
    try:
        step.send(None)
    except StopIteration as finished:
        message = finished.value
        return isinstance(message, dict) and message.get("type") == "http.disconnect"
    finally:
        step.close()
    return False


async def read_body(request: Request, state: AppState) -> ImageGenerationRequest:
    raw = await read_raw_body(request, state)
    return parse_json_body(raw, request.headers.get("content-type"), ImageGenerationRequest)


@router.post(
    "/v1/images/generations",
    response_model=ImagesResponse,
    responses=IMAGE_RESPONSES,
    openapi_extra=BODY_SCHEMA,
)
async def create_image(request: Request) -> Response:
    active = get_state(request).serving()  # this request's policy, to its end
    return await generate_images(request, active, authenticate(active, request))


async def generate_images(
    request: Request, active: Active[Serving], principal: Principal, model: str | None = None
) -> Response:
    """A generation under ``active`` for ``principal``; ``model`` replaces the body's (an
    Azure deployment's target)."""
    state = get_state(request)
    raw = await read_raw_body(request, state)
    body = parse_json_body(raw, request.headers.get("content-type"), ImageGenerationRequest)
    if model is not None:
        body = body.model_copy(update={"model": model})
    return await serve_images(request, state, active, principal, raw, body)


def authenticate(active: Active[Serving], request: Request) -> Principal:
    """The caller, by its ``Authorization: Bearer`` or (Azure clients) ``api-key`` header."""
    headers = request.headers
    authorization = headers.get("authorization")
    if authorization is None and (api_key := headers.get("api-key")) is not None:
        authorization = f"Bearer {api_key}"
    principal = active.parts.keyring.authenticate(authorization)
    structlog.contextvars.bind_contextvars(
        policy=active.short_digest, team=principal.team, key_id=principal.key_id
    )
    return principal


async def serve_images(
    request: Request,
    state: AppState,
    active: Active[Serving],
    principal: Principal,
    raw: bytes,
    body: ImageGenerationRequest,
) -> Response:
    """A parsed generation or edit: idempotency, then the image response."""
    max_latency = max_latency_header(request.headers.get(MAX_LATENCY_HEADER))
    header_choice(request.headers.get(VERIFY_HEADER))  # a bad value is a 400 before anything
    idempotency_key = request.headers.get(idempotency.HEADER)
    if body.stream and idempotency_key is None and principal.team is not None:
        # Partial images as the tier sends them; with an Idempotency-Key the stream is the
        # completed events alone, which can be stored and replayed.
        return await stream_images(
            request,
            body,
            lambda on_partial: generate_response(
                request, active, principal, body, max_latency, on_partial
            ),
            {"x-tiergate-policy": active.short_digest},
        )
    if idempotency_key is None or principal.team is None:
        return await generate_response(request, active, principal, body, max_latency)

    team, key = principal.team, idempotency.validate_key(idempotency_key)
    owner = request.scope["state"]["request_id"]
    replay = await state.idempotency.begin(team, key, raw, active.parts.in_flight_seconds, owner)
    if replay is not None:
        structlog.contextvars.bind_contextvars(idempotent_replay=True)
        if replay.body is None:
            raise IdempotencyConflict(
                "The first response to this Idempotency-Key was too large to store; "
                "it was generated and charged once and cannot be replayed.",
                param="Idempotency-Key",
                code="idempotency_response_too_large",
            )
        headers = dict(replay.headers)
        return Response(
            replay.body,
            status_code=replay.status,
            media_type=headers.pop("content-type", "application/json"),
            headers={**headers, "x-tiergate-idempotent-replay": "true"},
        )
    try:
        response = await generate_response(request, active, principal, body, max_latency)
    except BaseException:
        try:
            await asyncio.shield(state.idempotency.abandon(team, key, raw, owner))
        except GatewayError:  # the claim then expires on its own; the request's error stands
            log.error("idempotency_abandon_failed")
        raise
    stored_headers = {
        k: v for k, v in response.headers.items() if k.startswith(("x-tiergate-", "x-ratelimit-"))
    }
    stored_headers["content-type"] = response.media_type or "application/json"
    try:
        stored = await state.idempotency.complete(
            team, key, raw, response.status_code, stored_headers, response.joined(), owner
        )
        if not stored:  # the claim outlived its TTL and another request holds the key now
            log.error("idempotency_claim_lost")
    except GatewayError:
        # The image exists and is charged: answering 503 now would invite the retry that
        # charges it again. The client gets its image; only the replay record is lost.
        log.error("idempotency_record_lost")
    return response


async def generate_response(
    request: Request,
    active: Active[Serving],
    principal: Principal,
    body: ImageGenerationRequest,
    max_latency: int | None,
    on_partial: OnPartial | None = None,
) -> JSONPiecesResponse:
    request_id = request.scope["state"]["request_id"]
    choice = header_choice(request.headers.get(VERIFY_HEADER))
    service = active.parts.service
    outcome = await service.generate(
        principal, body, request_id, max_latency, verify=choice, on_partial=on_partial
    )
    decision = outcome.decision
    structlog.contextvars.bind_contextvars(
        tier=decision.tier,
        model=decision.model,
        reasons=list(decision.reasons),
        n=body.n,
        size=body.resolved_size,
        cost_micros=outcome.cost_micros,
        estimate_micros=outcome.estimate_micros,
        upstream_ms=round(outcome.result.latency_ms, 1),
    )
    verification = outcome.verification
    if verification is not None:
        structlog.contextvars.bind_contextvars(
            verify_similarity=round(verification.similarity, 3),
            verify_escalated_to=verification.escalated_to,
            verify_escalation=verification.escalation,
            verify_ocr_ms=round(verification.ocr_seconds * 1000, 1),
        )
    if active.policy.log_prompts:
        structlog.contextvars.bind_contextvars(prompt=body.prompt)
    if principal.team is not None and client_gone(request.receive):
        # Charged all the same: the tier made the image (docs/api.md, "Disconnects").
        structlog.contextvars.bind_contextvars(client_disconnected=True)
        await service.admission.count_disconnected(
            principal.team, outcome.cost_micros, service.clock()
        )
    headers = {
        "x-tiergate-tier": decision.tier,
        "x-tiergate-model": decision.model,
        "x-tiergate-cost-usd": format_usd(outcome.cost_micros),
        "x-tiergate-route-reason": ",".join(decision.reasons),
        "x-tiergate-upstream-ms": f"{outcome.result.latency_ms:.1f}",
        "x-tiergate-policy": active.short_digest,
        **outcome.headers,
    }
    if verification is not None:
        headers[VERIFY_HEADER] = verification.header()
    if body.stream:
        return sse_response(outcome, body, headers)
    if body.response_format == "url":
        state = get_state(request)
        if state.links is None:
            raise InvalidRequest(
                "This gateway does not serve image URLs; use response_format 'b64_json'.",
                param="response_format",
            )
        base = base_url(request, state.settings.public_base_url)
        return await url_response(outcome, body, state.links, base, headers)
    return JSONPiecesResponse(outcome.body(), headers=headers)


@router.post("/v1/route/explain", responses=_ERRORS, openapi_extra=BODY_SCHEMA)
async def explain_route(request: Request) -> JSONBytesResponse:
    """Classify and decide exactly as a generation would, without generating or charging."""
    from gateway.explain import explain_with

    state = get_state(request)
    active = state.serving()
    service, policy = active.parts.service, active.policy
    principal = authenticate(active, request)
    if principal.team is None:
        raise PermissionDenied("Use a team key to explain that team's routing.")
    body = await read_body(request, state)
    context, _ = await service.admission.route_context(
        principal,
        service.clock(),
        max_latency_header(request.headers.get(MAX_LATENCY_HEADER)),
    )
    explained = explain_with(
        service.classifier,
        policy,
        principal.team,
        body.prompt,
        body.model,
        context,
        verify=header_choice(request.headers.get(VERIFY_HEADER)),
    )
    tier = explained["decision"]["tier"]
    # The same size and n checks as a generation, and what it would cost at most.
    text_tokens, image_tokens = estimate_usage(
        policy.tiers[tier], body, count_text_tokens(body.prompt)
    )
    service.upstream_call(tier, body)
    estimate = policy.tiers[tier].pricing.cost_micros(
        text_tokens, image_tokens, body.input_image_tokens
    )
    explained["estimate"] = {
        "cost_usd": format_usd(estimate),
        "cost_micros": estimate,
        "text_tokens": text_tokens,
        "image_tokens": image_tokens,
    }
    return JSONBytesResponse(explained)
