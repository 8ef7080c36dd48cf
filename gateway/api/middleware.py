"""Request middleware (pure ASGI): request id, contextvars, and the one canonical log line."""

from __future__ import annotations

import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.backpressure import REFUSAL_KEY
from gateway.api.errors_asgi import send_error
from gateway.errors import HeadersTooLarge

REQUEST_ID_HEADER = b"x-tiergate-request-id"
MAX_HEADER_BYTES = 16 * 1024
log = structlog.get_logger("gateway.request")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = "req_" + uuid.uuid4().hex[:24]
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        state = getattr(getattr(scope.get("app"), "state", None), "tiergate", None)
        if state is not None:  # the handler binds the policy it took, which is this one
            structlog.contextvars.bind_contextvars(policy=state.live.current.short_digest)
        started = time.perf_counter()
        cpu_started = time.thread_time()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            if sum(len(k) + len(v) for k, v in scope["headers"]) > MAX_HEADER_BYTES:
                error = HeadersTooLarge(f"Request headers exceed {MAX_HEADER_BYTES} bytes.")
                await send_error(send_wrapper, error)
                return
            await self.app(scope, receive, send_wrapper)
        finally:
            path = scope.get("path", "")
            if path not in ("/healthz", "/readyz", "/metrics"):
                log.info(
                    "request",
                    # With what a handler's own tasks found (a streamed generation's tier,
                    # cost), which their contexts cannot bind here.
                    **{
                        **structlog.contextvars.get_contextvars(),
                        **scope["state"].get("log_fields", {}),
                    },
                    method=scope.get("method"),
                    path=path,
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )
            structlog.contextvars.clear_contextvars()
            refused_by = scope["state"].get(REFUSAL_KEY)
            if refused_by is not None:  # a backpressure 503: what refusing cost, line included
                refused_by.refusal_cost(time.thread_time() - cpu_started)
